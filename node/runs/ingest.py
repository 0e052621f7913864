"""Log ingest with group commit: many ReportLogs messages share one INSERT and one COMMIT.

A caller hands its rows to the writer and waits until the batch holding them is committed, so an
answer to the executor (HTTP 200, or the next frame read on WebSocket) means the lines are durable,
while the database sees one commit per flush interval instead of one per message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask
from sqlalchemy import insert

from common.db import connection, db, sqlite_datetime
from common.groupcommit import GroupCommit
from common.timeutil import UTC
from node.runs.models import RunInstanceLog

log = logging.getLogger(__name__)

COLUMNS = ("run_instance_id", "attempt", "robot_id", "content", "screenshot", "log_at", "log_level")


def _copy_rows(rows: list[dict]) -> None:
    """PostgreSQL: COPY the rows in the session's transaction (psycopg's executemany sends one INSERT
    per row; COPY is one stream). ``log_at`` goes in as naive UTC, as UTCDateTime stores it."""
    dbapi = connection().connection.driver_connection
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


_SQLITE_INSERT = (
    f"INSERT INTO run_instance_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


def _insert_rows_sqlite(rows: list[dict]) -> None:
    """SQLite: one driver-level executemany in the batch's transaction. Core's executemany spends
    most of its time on per-row parameter processing (two datetime processors per row); here the
    only conversion is the timestamp's text, exactly as UTCDateTime stores it. ``insert_rows`` does
    the same for any table; this hot path keeps its hand-unrolled tuples (~0.5 µs a line less,
    measured against it on 8,000-line batches)."""
    dbapi = connection().connection.driver_connection
    dbapi.executemany(
        _SQLITE_INSERT,
        [
            (
                row["run_instance_id"],
                row["attempt"],
                row["robot_id"],
                row["content"],
                row["screenshot"],
                sqlite_datetime(row["log_at"]),
                row["log_level"],
            )
            for row in rows
        ],
    )


class LogWriter(GroupCommit[list[dict], int]):
    """Group commit of ReportLogs rows; a batch holds at most ``max_rows`` lines."""

    name = "Log ingest"

    def __init__(self, app: Flask, flush_interval: float, max_rows: int = 20000) -> None:
        super().__init__(app, window=flush_interval, max_items=max_rows)
        self.rows_written = 0

    def weight(self, item: list[dict]) -> int:
        return len(item)

    def write(self, rows: list[dict], timeout: float = 30.0) -> None:
        """Queue ``rows`` (dicts for ``run_instance_log``) and return once they are committed."""
        if rows:
            self.submit(rows, timeout)

    def apply(self, items: Sequence[list[dict]]) -> list[int]:
        flat = [row for rows in items for row in rows]
        dialect = db.engine.dialect.name
        if dialect == "postgresql":
            _copy_rows(flat)
        elif dialect == "sqlite":
            _insert_rows_sqlite(flat)
        else:
            connection().execute(insert(RunInstanceLog.__table__), flat)
        self.rows_written += len(flat)
        return [len(rows) for rows in items]
