"""Each robot's durable command inbox (Execute, Stop, SendLicense, Error): a command is a row first;
the bus only wakes whichever process holds the robot's connection, after the commit.

Delivery (reading a robot's commands with their runs, rendering an Execute, dropping a stale one)
belongs to the runs kernel (``node.runs.delivery``); this module writes the rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, update

from common.db import connection, insert_rows
from common.timeutil import utcnow
from node.robots.bus import notify_after_commit
from node.robots.models import RobotCommand
from node.robots.runtime import robots_runtime

COMMAND = RobotCommand.__table__

_MARK_DELIVERED = (
    update(COMMAND)
    .where(COMMAND.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(delivered_at=bindparam("b_now"))
)
# Expanding IN (...) parameters are re-rendered on every execution: the one-id case has its own.
_MARK_ONE_DELIVERED = (
    update(COMMAND).where(COMMAND.c.id == bindparam("b_id")).values(delivered_at=bindparam("b_now"))
)


def command(robot_id: str, action: str, run_id: str | None, body: dict | None, now: datetime) -> dict:
    """A robot_command row (for ``put_commands``)."""
    return {
        "robot_id": robot_id,
        "action": action,
        "run_instance_id": run_id,
        "body": body,
        "created_at": now,
    }


def put_commands(rows: list[dict]) -> None:
    """Append commands (rows from ``command``) to robots' inboxes in the current transaction; the
    caller notifies the bus after commit (``notify_mail``)."""
    insert_rows(COMMAND, rows)


def notify_mail(robot_id: str) -> None:
    """Wake the robot's connection, wherever it is held, once the current transaction commits."""
    notify_after_commit(robots_runtime().bus, "mail", robot_id)


def enqueue_command(robot_id: str, action: str, run_id: str | None = None, body: dict | None = None) -> None:
    """Put a command in the robot's durable inbox; its connection is woken after commit."""
    put_commands([command(robot_id, action, run_id, body, utcnow())])
    notify_mail(robot_id)


def mark_delivered(ids: list[int], now: datetime) -> None:
    """Record that these inbox commands were sent (in the current transaction)."""
    if len(ids) == 1:
        connection().execute(_MARK_ONE_DELIVERED, {"b_id": ids[0], "b_now": now})
    else:
        connection().execute(_MARK_DELIVERED, {"b_ids": ids, "b_now": now})
