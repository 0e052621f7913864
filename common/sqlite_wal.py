"""SQLite WAL checkpoints off the event loop (embedded mode's server process).

SQLite checkpoints the write-ahead log from inside whichever COMMIT crosses ``wal_autocheckpoint``
pages: it copies the frames into the database file and fsyncs it, 30–150 ms during which a gevent
process serves nobody (seen with gevent's blocking monitor at 10,000 executors: most of the
heartbeat p99). Here the server's connections checkpoint only as a fallback (a WAL of
``FALLBACK_PAGES``), and a native thread runs a PASSIVE checkpoint every ``interval`` seconds on
its own connection; the sqlite3 module releases the GIL meanwhile, so the loop keeps serving and
writers keep appending (PASSIVE never blocks them).
"""

from __future__ import annotations

import logging
import sqlite3

import gevent
from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

FALLBACK_PAGES = 100_000  # ~400 MiB of WAL: only if the checkpoint thread cannot keep up or dies
PASSES = 4


class WalCheckpointer:
    """A greenlet that hands PASSIVE checkpoints to gevent's native thread pool."""

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self._engine = engine
        self._path = engine.url.database
        self._interval = interval
        self._conn: sqlite3.Connection | None = None
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = False
        self.checkpoints = 0

    def start(self) -> None:
        if self._greenlet is not None:
            return
        event.listen(self._engine, "connect", _no_auto_checkpoint)
        self._engine.dispose()  # connections opened before now checkpoint on commit: replace them
        self._greenlet = gevent.spawn(self._loop)

    def _checkpoint(self) -> tuple[int, int, int]:
        """(busy, WAL frames, frames checkpointed) of the last pass; runs in a native thread.

        Passes repeat (at most ``PASSES``) until one finds no frame appended meanwhile: the WAL
        is then wholly in the database, so the next writer can rewind it instead of growing it.
        """
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, timeout=10, check_same_thread=False)
        frames, result = -1, (0, 0, 0)
        for _ in range(PASSES):
            cur = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            try:
                result = tuple(cur.fetchall()[0])
            finally:
                cur.close()  # a statement left open keeps a read lock: the WAL could never rewind
            if result[1] == frames:
                break
            frames = result[1]
        return result

    def _loop(self) -> None:
        pool = gevent.get_hub().threadpool
        while not self._stopping:
            gevent.sleep(self._interval)
            if self._stopping:
                break
            try:
                pool.apply(self._checkpoint)
                self.checkpoints += 1
            except Exception:
                log.exception(
                    "SQLite: WAL checkpoint failed; retrying (commits checkpoint past %d pages)",
                    FALLBACK_PAGES,
                )

    def stop(self) -> None:
        """Stop the schedule (after a checkpoint in progress: the connection is never shared
        between threads) and checkpoint once more, inline."""
        if self._greenlet is not None:
            self._stopping = True
            self._greenlet.join(timeout=15)
            if not self._greenlet.dead:  # a checkpoint stuck for 15 s: leave the connection to it
                log.warning("SQLite: WAL checkpoint still running at stop; skipping the final one")
                self._greenlet = None
                return
            self._greenlet = None
        try:
            self._checkpoint()
        except Exception:
            log.exception("SQLite: final WAL checkpoint failed")
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _no_auto_checkpoint(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
    cur.execute("PRAGMA journal_size_limit=67108864")  # a rewound WAL is cut back to 64 MiB
    cur.close()
