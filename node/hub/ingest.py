"""Log ingest with group commit: many ReportLogs messages share one INSERT and one COMMIT.

A caller hands its rows to the writer and waits until the batch holding them is committed, so an
answer to the executor (HTTP 200, or the next frame read on WebSocket) means the lines are durable,
while the database sees one commit per flush interval instead of one per message.
"""

from __future__ import annotations

import logging
from collections import deque

import gevent
from flask import Flask
from gevent.event import AsyncResult, Event
from sqlalchemy import insert

from common.db import db
from common.timeutil import UTC
from node.schedule.models import RunInstanceLog

log = logging.getLogger(__name__)

COLUMNS = ("run_instance_id", "attempt", "robot_id", "content", "screenshot", "log_at", "log_level")


def _copy_rows(rows: list[dict]) -> None:
    """PostgreSQL: COPY the rows in the session's transaction (psycopg's executemany sends one INSERT
    per row; COPY is one stream). ``log_at`` goes in as naive UTC, as UTCDateTime stores it."""
    dbapi = db.session.connection().connection.driver_connection
    with dbapi.cursor() as cur, cur.copy(f"COPY run_instance_log ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            at = row["log_at"]
            copy.write_row(
                (
                    row["run_instance_id"],
                    row["attempt"],
                    row["robot_id"],
                    row["content"],
                    row["screenshot"],
                    at.astimezone(UTC).replace(tzinfo=None),
                    row["log_level"],
                )
            )


class LogWriter:
    """Single writer greenlet per process; bounded batch size; errors go back to every waiter."""

    def __init__(self, app: Flask, flush_interval: float, max_rows: int = 20000) -> None:
        self._app = app
        self._interval = flush_interval
        self._max_rows = max_rows
        self._queue: deque[tuple[list[dict], AsyncResult]] = deque()
        self._wake = Event()
        self._greenlet: gevent.Greenlet | None = None
        self.rows_written = 0

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def write(self, rows: list[dict], timeout: float = 30.0) -> None:
        """Queue ``rows`` (dicts for ``run_instance_log``) and return once they are committed."""
        if not rows:
            return
        if self._greenlet is None:  # not started (e.g. a CLI context): write inline
            self._commit([rows])
            return
        result = AsyncResult()
        self._queue.append((rows, result))
        self._wake.set()
        result.get(timeout=timeout)

    def _commit(self, batches: list[list[dict]]) -> None:
        flat = [row for rows in batches for row in rows]
        with self._app.app_context():
            try:
                if db.engine.dialect.name == "postgresql":
                    _copy_rows(flat)
                else:
                    db.session.execute(insert(RunInstanceLog.__table__), flat)
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
        self.rows_written += len(flat)

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._interval:
                gevent.sleep(self._interval)  # let more messages join this batch
            self.flush()

    def flush(self) -> None:
        """Commit everything queued now (also used when draining at shutdown)."""
        while self._queue:
            taken, waiters, count = [], [], 0
            while self._queue and count < self._max_rows:
                rows, result = self._queue.popleft()
                taken.append(rows)
                waiters.append(result)
                count += len(rows)
            try:
                self._commit(taken)
            except Exception:
                log.warning("Log ingest: batch of %d lines failed; committing its messages one by one", count)
                self._commit_each(taken, waiters)
            else:
                for result in waiters:
                    result.set(True)

    def _commit_each(self, taken: list[list[dict]], waiters: list[AsyncResult]) -> None:
        """Isolate a failure: one bad message fails alone, never the others that shared its batch."""
        for rows, result in zip(taken, waiters, strict=True):
            try:
                self._commit([rows])
            except Exception as exc:
                log.exception("Log ingest: a message of %d lines failed", len(rows))
                result.set_exception(exc)
            else:
                result.set(True)

    def stop(self) -> None:
        """Flush what is queued, then stop the writer."""
        self.flush()
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None
        self.flush()
