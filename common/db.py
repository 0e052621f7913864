"""Database setup: one Flask-SQLAlchemy instance, typed declarative base, SQLite tuned for WAL.

Also the unit of work of the group-commit writers: a Core transaction on a pooled connection,
without the ORM session (whose bookkeeping cost more than the hot path's statements). Code that
runs in either calls ``connection()`` for its connection and ``on_commit()`` for what must happen
only once its writes are committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from common.timeutil import UTC

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

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ANN001
        return None if value is None else value.replace(tzinfo=UTC)


def sqlite_datetime(value: datetime) -> str:
    """A UTCDateTime value as SQLite stores it (the text SQLAlchemy's DATETIME writes and parses):
    for driver-level bulk writes that skip SQLAlchemy's per-row processing."""
    # "YYYY-MM-DD HH:MM:SS.ffffff" without the "+00:00" (one datetime made instead of two).
    return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
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
    for hook in unit.after_commit:
        hook()


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
    for hook in session.info.pop("rpa_after_commit", ()):
        hook()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop("rpa_after_commit", None)
