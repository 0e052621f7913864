"""Delivery of a robot's inbox: its oldest undelivered commands with their runs in one read, an
Execute rendered from its run (or dropped when the run moved on), and the record that they were
sent, written with the run desk's next batch."""

from __future__ import annotations

from collections.abc import Collection

from gevent.event import AsyncResult
from sqlalchemy import Row

from common.db import db
from node.robots.licenses import license_content
from node.runs import lifecycle, store
from node.runs.execute import build_execute_body
from node.runs.runtime import runs_runtime
from protocol.actions import EXECUTE, SEND_LICENSE


def _command_body(cmd: Row, robot_id: str, base_url: str) -> tuple[bool, dict | None]:
    """(send?, body) for an inbox command (with its run's columns); an Execute whose run moved on
    is dropped, not sent."""
    if cmd.command_action == EXECUTE:
        if cmd.id is None or cmd.robot_id != robot_id or cmd.status not in lifecycle.ACTIVE:
            return False, None
        return True, build_execute_body(cmd, base_url)
    if cmd.command_action == SEND_LICENSE:
        content = license_content(robot_id)
        return (content is not None), {"licenseContent": content}
    return True, cmd.command_body


def take_commands(
    robot_id: str, base_url: str, limit: int, skip: Collection[int] = ()
) -> list[tuple[int, str, dict | None]]:
    """Oldest undelivered commands of a robot as (id, action, body), leaving out the ids in ``skip``
    (sent, their delivery not yet recorded); the caller marks them delivered.

    An action of "" means "drop it" (marked delivered, never sent)."""
    out = []
    for cmd in store.undelivered(robot_id, limit + len(skip)):
        if cmd.command_id in skip:
            continue
        send, body = _command_body(cmd, robot_id, base_url)
        out.append((cmd.command_id, cmd.command_action if send else "", body))
        if len(out) == limit:
            break
    return out


def next_command(robot_id: str, base_url: str) -> tuple[str, dict | None] | None:
    """The robot's oldest undelivered command as (action, body), its delivery committed before it
    is returned (an HTTP robot gets each command once); stale Executes are dropped on the way.
    None when the inbox is empty."""
    while True:
        cmds = take_commands(robot_id, base_url, 1)
        if not cmds:
            db.session.rollback()  # end the read transaction
            return None
        cmd_id, action, body = cmds[0]
        mark_delivered([cmd_id])
        if action:
            return action, body


def mark_delivered(ids: list[int]) -> None:
    """Record that commands were sent (group commit; returns once durable)."""
    db.session.rollback()  # end the read transaction of take_commands
    if ids:
        runs_runtime().desk.mark_delivered(ids)


def mark_delivered_later(ids: list[int]) -> AsyncResult:
    """Record that commands were sent, with the run desk's next batch, without waiting.

    Until it is written, a node that dies sends them again after restart: Execute is delivered at
    least once and carries its runInstanceId (protocol.md), so executors recognise a repeat.
    """
    return runs_runtime().desk.mark_delivered_later(ids)
