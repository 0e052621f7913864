"""``insert_rows``: SQLite's driver-level path stores exactly what Core's insert stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from common.db import UTCDateTime, connection, db, insert_rows, unit_of_work

UTC8 = timezone(timedelta(hours=8))
meta = sa.MetaData()
SAMPLE = sa.Table(
    "insert_rows_sample",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20)),
    sa.Column("n", sa.BigInteger, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=True),
    sa.Column("doc", sa.JSON, nullable=True),
    sa.Column("at", UTCDateTime, nullable=True),
    sa.Column("kind", sa.String(8), default="plain"),
)
ROWS = [
    {
        "name": "a",
        "n": 2**40,
        "flag": True,
        "doc": {"k": ["v", 1]},
        "at": datetime(2026, 1, 2, 3, 4, 5, 6, UTC8),
        "kind": "x",
    },
    {"name": "b", "n": None, "flag": None, "doc": None, "at": None, "kind": "y"},
    {
        "name": "中文",
        "n": 0,
        "flag": False,
        "doc": [],
        "at": datetime(2026, 1, 2, tzinfo=UTC),
        "kind": "z",
    },
]


@pytest.fixture
def sample(app):
    with app.app_context():
        meta.create_all(db.engine)
        yield app
        db.session.remove()


def _stored(conn) -> list[tuple]:
    return conn.exec_driver_sql(
        "SELECT name, n, flag, doc, at, kind FROM insert_rows_sample ORDER BY id"
    ).all()


def test_the_driver_path_stores_what_core_stores(sample):
    """Same stored text, numbers and NULLs as Core, read back as the same values."""
    with unit_of_work(db.engine) as conn:
        conn.execute(sa.insert(SAMPLE), ROWS)
        by_core = _stored(conn)
        conn.exec_driver_sql("DELETE FROM insert_rows_sample")
        insert_rows(SAMPLE, ROWS)
        assert _stored(conn) == by_core  # the same text, numbers and NULLs in the file
        read = conn.execute(sa.select(SAMPLE.c.doc, SAMPLE.c.at).order_by(SAMPLE.c.id)).all()
    assert read[0] == ({"k": ["v", 1]}, datetime(2026, 1, 1, 19, 4, 5, 6, UTC))
    assert read[1] == (None, None)


def test_a_naive_time_is_refused_and_a_missing_default_goes_through_core(sample):
    """A naive datetime is refused; a row missing a defaulted column is left to Core."""
    with pytest.raises(ValueError, match="naive"), unit_of_work(db.engine):
        insert_rows(SAMPLE, [{"name": "n", "at": datetime(2026, 1, 1), "kind": "k"}])
    with unit_of_work(db.engine):
        insert_rows(SAMPLE, [{"name": "d"}])  # "kind" left out: Core fills its default
        assert connection().exec_driver_sql("SELECT kind FROM insert_rows_sample").scalar() == "plain"
