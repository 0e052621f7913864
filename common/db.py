"""Database setup: one Flask-SQLAlchemy instance, typed declarative base, SQLite tuned for WAL.

Also the unit of work of the group-commit writers: a Core transaction on a pooled connection,
without the ORM session (whose bookkeeping cost more than the hot path's statements). Code that
runs in either calls ``connection()`` for its connection and ``on_commit()`` for what must happen
only once its writes are committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from operator import itemgetter

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from common.timeutil import UTC

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def sqlite_datetime(value: datetime) -> str:
    """A UTCDateTime value as SQLite stores it (the text SQLAlchemy's DATETIME writes and parses):
    for driver-level bulk writes that skip SQLAlchemy's per-row processing."""
    # "YYYY-MM-DD HH:MM:SS.ffffff" without the "+00:00" (one datetime made instead of two).
    return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


# Integer ids that grow past 2**31 (log lines, transitions); SQLite's INTEGER is already 64-bit.
BIGID = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL + NORMAL sync: durable across a process kill (SIGKILL), fast group commits."""
    module = type(dbapi_conn).__module__
    if not module.startswith("sqlite3"):
        return
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class _Unit:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.after_commit: list[Callable[[], None]] = []


_unit: ContextVar[_Unit | None] = ContextVar("rpa_unit_of_work", default=None)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Connection]:
    """One transaction on its own pooled connection, committed when the block ends (rolled back if
    it raises); ``connection()`` inside the block returns it. Hooks given to ``on_commit`` run
    after the commit, never after a rollback."""
    with engine.connect() as conn:
        unit = _Unit(conn)
        token = _unit.set(unit)
        try:
            with conn.begin():
                yield conn
        finally:
            _unit.reset(token)
    _run_hooks(unit.after_commit)


def _run_hooks(hooks: list[Callable[[], None]]) -> None:
    """After a commit: a failing hook is logged, never raised (the caller must not take a
    committed transaction for a failed one and apply its writes again)."""
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("after-commit hook %r failed", hook)


def connection() -> Connection:
    """The connection of the current transaction: the unit of work's, else the ORM session's."""
    unit = _unit.get()
    return unit.conn if unit is not None else db.session.connection()


def on_commit(hook: Callable[[], None]) -> None:
    """Call ``hook`` after the current transaction commits (dropped if it rolls back)."""
    unit = _unit.get()
    if unit is not None:
        unit.after_commit.append(hook)
    else:
        db.session().info.setdefault("rpa_after_commit", []).append(hook)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    _run_hooks(session.info.pop("rpa_after_commit", []))


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop("rpa_after_commit", None)


def insert_rows(table: Table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) in the current transaction.

    SQLite: one driver-level executemany that stores every value exactly as Core does (UTCDateTime
    as its text, JSON as its text, booleans as 0/1) without Core's per-row parameter processing (a
    tenth of the node's CPU in the dispatch round trip, most of it in log ingest). Other databases,
    or rows that leave out a column with a Python-side default (Core fills it): Core's insert."""
    if not rows:
        return
    conn = connection()
    plan = _sqlite_insert_plan(table, tuple(rows[0])) if conn.dialect.name == "sqlite" else None
    if plan is None:
        conn.execute(insert(table), rows)
        return
    sql, values_of, conversions = plan
    if conversions:
        values = []
        for row in rows:
            vals = list(values_of(row))
            for index, convert in conversions:
                vals[index] = convert(vals[index])
            values.append(vals)
    else:
        values = [values_of(row) for row in rows]
    conn.connection.driver_connection.executemany(sql, values)


_Plan = tuple[str, Callable[[dict], tuple], list[tuple[int, Callable]]]
_plans: dict[tuple[Table, tuple[str, ...]], _Plan | None] = {}


def _sqlite_insert_plan(table: Table, keys: tuple[str, ...]) -> _Plan | None:
    """(INSERT text, the row's values in key order, (index, converter) of the values SQLite stores
    differently from Python) for rows with these keys, or None when Core must insert."""
    key = (table, keys)
    if key not in _plans:
        columns = [table.c[k] for k in keys]
        converters = [_sqlite_value(c.type) for c in columns]
        defaulted = [c for c in table.c if c.default is not None and c.key not in keys and not c.primary_key]
        if defaulted or None in converters:
            _plans[key] = None
        else:
            names, marks = ", ".join(c.name for c in columns), ", ".join("?" * len(columns))
            values_of = itemgetter(*keys) if len(keys) > 1 else (lambda row, k=keys[0]: (row[k],))
            conversions = [(i, conv) for i, conv in enumerate(converters) if conv is not _same]
            _plans[key] = (f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values_of, conversions)
    return _plans[key]


def _same(value: object) -> object:
    return value


def _sqlite_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    return sqlite_datetime(value)


def _sqlite_value(type_: object) -> Callable | None:
    """How Core's SQLite dialect stores a Python value of this column type; None: leave it to Core."""
    if isinstance(type_, UTCDateTime):
        return _sqlite_utc_text
    if isinstance(type_, JSON):
        return json.dumps  # JSON null for None, as Core stores it (none_as_null is off)
    if isinstance(type_, Boolean):
        return _sqlite_bool
    if isinstance(type_, String | Integer):  # Text is a String, BigInteger an Integer
        return _same
    return None


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)
