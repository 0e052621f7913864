"""The hash-chained audit log: every user and robot change, in the same transaction as the change.

Each event stores ``hash = SHA-256(prev_hash || canonical JSON of the event)``; a single head row,
locked for update, orders writers across processes so the chain never forks. ``verify_chain`` walks
it and names the first event whose hash does not match (``rpa audit verify``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, bindparam, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from common.db import UTCDateTime, connection, db, insert_rows
from common.timeutil import iso, utcnow

GENESIS = "0" * 64


class AuditEvent(db.Model):
    """One audited action: who (user:NAME, robot:ID, system), what, on which object."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(256), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(db.Model):
    """The chain's head (a single row, id 1): the lock that serialises audit writers."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


def _digest(prev: str, seq: int, at: datetime, actor: str, action: str, target: str, detail: dict) -> str:
    body = json.dumps(
        {"seq": seq, "at": iso(at), "actor": actor, "action": action, "target": target, "detail": detail},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev + body).encode()).hexdigest()


_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
_MOVE_HEAD = (
    update(AuditHead.__table__)
    .where(AuditHead.__table__.c.id == 1)
    .values(seq=bindparam("v_seq"), hash=bindparam("v_hash"))
)


def record(
    action: str, *, target: str = "", detail: dict[str, Any] | None = None, actor: str = "system"
) -> None:
    """Append an event to the chain inside the caller's transaction (the caller commits)."""
    record_many([Event(action, target, detail or {}, actor)])


@dataclass(frozen=True)
class Event:
    """An event to append with ``record_many``."""

    action: str
    target: str = ""
    detail: dict[str, Any] | None = None
    actor: str = "system"


def record_many(events: list[Event]) -> None:
    """Append events to the chain, in order, inside the caller's transaction (the caller commits).

    Three statements whatever the number of events (lock and read the head, insert, move the
    head): a batch of runs costs the chain what one run does.
    """
    if not events:
        return
    conn = connection()
    head = conn.execute(_HEAD).first()
    if head is None:
        conn.execute(insert(AuditHead.__table__), {"id": 1, "seq": 0, "hash": GENESIS})
        seq, prev = 0, GENESIS
    else:
        seq, prev = head
    at = utcnow()
    rows = []
    for ev in events:
        seq += 1
        detail = ev.detail or {}
        digest = _digest(prev, seq, at, ev.actor, ev.action, ev.target, detail)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": ev.actor,
                "action": ev.action,
                "target": ev.target,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    insert_rows(AuditEvent.__table__, rows)
    conn.execute(_MOVE_HEAD, {"v_seq": seq, "v_hash": prev})


@dataclass
class ChainReport:
    events: int
    ok: bool
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(batch: int = 1000) -> ChainReport:
    """Recompute every hash in order; report the first break (edited, deleted or inserted event)."""
    prev, expected_seq, count, last_id = GENESIS, 1, 0, 0
    while True:
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return ChainReport(count, False, ev.seq, f"expected sequence {expected_seq}")
            if (
                ev.prev_hash != prev
                or _digest(prev, ev.seq, ev.at, ev.actor, ev.action, ev.target, ev.detail) != ev.hash
            ):
                return ChainReport(count, False, ev.seq, "hash does not match the event")
            prev, expected_seq, count, last_id = ev.hash, expected_seq + 1, count + 1, ev.id
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev):
        return ChainReport(count, False, count + 1, "head does not match the last event (events removed)")
    return ChainReport(count, True)
