"""Presence: heartbeats touch memory only; last-seen times reach the database in one batched write per
second per process (the ``presence.flush`` periodic job; a heartbeat never costs a commit).
Connection ids live in Redis for HTTP callers.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

import redis
from flask import Flask
from sqlalchemy import bindparam, select, update

from common.db import db, sqlite_datetime
from common.timeutil import UTC
from node.robots.models import Robot

log = logging.getLogger(__name__)


_TOUCH = update(Robot.__table__).where(Robot.__table__.c.id == bindparam("rid"))


STAMP_RESOLUTION = 100  # last-seen kept to 1/100 s: one datetime per distinct tick, not per robot


def _stamps(batch: dict[str, tuple]) -> dict[int, datetime]:
    """Touch times (epoch seconds) by tick, as datetimes: about a hundred per flush however many
    robots were heard from."""
    ticks = {int(t * STAMP_RESOLUTION) for t, _m in batch.values()}
    return {tick: datetime.fromtimestamp(tick / STAMP_RESOLUTION, UTC) for tick in ticks}


_LOCK_FREE = (
    select(Robot.__table__.c.id)
    .where(Robot.__table__.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(Robot.__table__.c.id)
    .with_for_update(skip_locked=True, key_share=True)
)


def _write(batch: dict[str, tuple]) -> dict[str, tuple]:
    """PostgreSQL: touch the robots whose rows no other transaction holds, and return the others
    (for the next flush). A flush never waits for a run's transaction, so it is never one half of a
    deadlock, and it never makes a run start wait long: it locks in id order and commits at once."""
    free = set(db.session.scalars(_LOCK_FREE, {"ids": sorted(batch)}))
    stamps = _stamps(batch)
    rows = [
        {"rid": rid, "ts": stamps[int(t * STAMP_RESOLUTION)], "m": m}
        for rid, (t, m) in sorted(batch.items())
        if rid in free
    ]
    plain = [r for r in rows if r["m"] is None]
    with_metrics = [r for r in rows if r["m"] is not None]
    if plain:
        db.session.execute(_TOUCH.values(last_seen_at=bindparam("ts")), plain)
    if with_metrics:
        db.session.execute(_TOUCH.values(last_seen_at=bindparam("ts"), metrics=bindparam("m")), with_metrics)
    return {rid: value for rid, value in batch.items() if rid not in free}


def _write_sqlite(batch: dict[str, tuple]) -> None:
    """SQLite: driver-level executemany (10,000 executors touch 1,000 rows a second; Core's per-row
    parameter processing was most of this flush's cost)."""
    dbapi = db.session.connection().connection.driver_connection
    text = {sec: sqlite_datetime(at) for sec, at in _stamps(batch).items()}
    plain = [(text[int(t * STAMP_RESOLUTION)], rid) for rid, (t, m) in batch.items() if m is None]
    with_metrics = [
        (text[int(t * STAMP_RESOLUTION)], json.dumps(m), rid)
        for rid, (t, m) in batch.items()
        if m is not None
    ]
    if plain:
        dbapi.executemany("UPDATE robot SET last_seen_at = ? WHERE id = ?", plain)
    if with_metrics:
        dbapi.executemany("UPDATE robot SET last_seen_at = ?, metrics = ? WHERE id = ?", with_metrics)


class Presence:
    """Coalesces last-seen updates and caches robotConnectId checks."""

    def __init__(self, app: Flask, redis_client: redis.Redis) -> None:
        self._app = app
        self._redis = redis_client
        self._seen: dict[str, tuple] = {}

    def touch(self, robot_id: str, metrics: dict | None = None) -> None:
        """Record that ``robot_id`` was heard from now (memory only)."""
        self._seen[robot_id] = (time.time(), metrics)

    def flush(self) -> int:
        """Write pending last-seen times in one statement; returns the number of robots written."""
        if not self._seen:
            return 0
        batch, self._seen = self._seen, {}
        with self._app.app_context():
            try:
                busy: dict[str, tuple] = {}
                if db.engine.dialect.name == "sqlite":
                    _write_sqlite(batch)
                else:
                    busy = _write(batch)
                db.session.commit()
                for rid, value in busy.items():  # touched next time (unless heard from again)
                    self._seen.setdefault(rid, value)
            except Exception:
                db.session.rollback()
                for rid, value in batch.items():  # keep them for the next round
                    self._seen.setdefault(rid, value)
                log.exception("Presence: flush of %d robots failed; retrying", len(batch))
                return 0
        return len(batch) - len(busy)

    # --- robotConnectId ---------------------------------------------------------------------------
    def set_connect_id(self, robot_id: str, connect_id: str) -> None:
        self._redis.set(f"rpa:cid:{robot_id}", connect_id, ex=86400)

    def connect_id(self, robot_id: str) -> str | None:
        """The robot's current connection id (Redis, falling back to the database)."""
        value = self._redis.get(f"rpa:cid:{robot_id}")
        if value is not None:
            return value.decode()
        cid = db.session.scalar(select(Robot.connect_id).where(Robot.id == robot_id))
        if cid:
            self.set_connect_id(robot_id, cid)
        return cid or None
