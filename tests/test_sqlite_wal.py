"""WAL checkpoints run off the committing connection, and the WAL still rewinds."""

from __future__ import annotations

import sqlite3

import gevent
from sqlalchemy import create_engine, text

import common.db  # noqa: F401 (the WAL pragmas every SQLite connection gets)
from common.sqlite_wal import FALLBACK_PAGES, WalCheckpointer


def test_commits_leave_checkpoints_to_the_thread_and_the_wal_rewinds(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    checkpointer = WalCheckpointer(engine, interval=0.02)
    checkpointer.start()
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == FALLBACK_PAGES
        written = 0
        for _ in range(60):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500}] * 200)
            written += 200
            gevent.sleep(0.005)
        gevent.sleep(0.2)
        assert checkpointer.checkpoints > 0
        checkpointer.stop()
        # ~6 MB went through the WAL; after a rewind it holds only what came since.
        with sqlite3.connect(tmp_path / "wal.db") as probe:
            frames = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1]
        assert frames < 1000, f"the WAL never rewound ({frames} frames)"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == written
    finally:
        checkpointer.stop()
        engine.dispose()
