"""WebSocket connections held by this process, and delivery of inbox commands to them."""

from __future__ import annotations

import contextlib
import logging
from functools import partial

import gevent
from flask import Flask
from gevent.event import AsyncResult, Event
from gevent.lock import Semaphore

from common.db import db, unit_of_work
from node.hub.messages import frame
from node.runs import delivery
from protocol.actions import ERROR
from protocol.codes import DUPLICATE_CONNECTION

log = logging.getLogger(__name__)

DELIVERY_BATCH = 20


class Connection:
    """One executor's WebSocket: sends are serialised; inbox delivery runs in one greenlet at a time."""

    def __init__(
        self, registry: ConnectionRegistry, robot_id: str, connect_id: str, ws, base_url: str
    ) -> None:
        self.registry = registry
        self.robot_id = robot_id
        self.connect_id = connect_id
        self.ws = ws
        self.base_url = base_url
        self._lock = Semaphore()
        self._delivering = False
        self._again = False
        self._unrecorded: set[int] = set()  # commands sent whose delivery is not yet written
        self.closed = False

    def send(self, text: str) -> None:
        with self._lock:
            self.ws.send(text)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            with self._lock:
                self.ws.close(reason=code, message=reason)
        except Exception:  # already gone
            pass

    def wake(self) -> None:
        """Deliver the inbox now (coalesces concurrent wake-ups into one delivery loop)."""
        if self.closed:
            return
        if self._delivering:
            self._again = True
            return
        self._delivering = True
        gevent.spawn(self._deliver)

    def _deliver(self) -> None:
        try:
            with self.registry.app.app_context():
                while not self.closed:
                    self._again = False
                    with unit_of_work(db.engine):  # one short read transaction per round
                        cmds = delivery.take_commands(
                            self.robot_id, self.base_url, DELIVERY_BATCH, skip=self._unrecorded
                        )
                    if not cmds:
                        break
                    sent = []
                    for cmd_id, action, body in cmds:
                        if action:
                            self.send(frame(action, body))
                            log.info("Robot %s: %s delivered over WebSocket", self.robot_id, action)
                        sent.append(cmd_id)
                        self._unrecorded.add(cmd_id)
                    # written with the run desk's next batch (usually this run's ReportFinish)
                    delivery.mark_delivered_later(sent).rawlink(partial(self._recorded, sent))
                    if len(cmds) < DELIVERY_BATCH and not self._again:
                        break
        except Exception:
            log.exception("Robot %s: delivery failed; it will be retried", self.robot_id)
        finally:
            self._delivering = False
            with self.registry.app.app_context():
                db.session.remove()

    def _recorded(self, ids: list[int], result: AsyncResult) -> None:
        if isinstance(result.value, Exception):  # not written: they stay unsent in the inbox
            log.warning(
                "Robot %s: delivery of %d commands not recorded (%s); they are sent again on "
                "the next connection",
                self.robot_id,
                len(ids),
                result.value,
            )
            return  # and stay skipped on this connection, which already has them
        self._unrecorded.difference_update(ids)


class ConnectionRegistry:
    """robotId → live connection in this process; receives bus notifications for them."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._by_robot: dict[str, Connection] = {}
        self._http_waiters: dict[str, Event] = {}
        self.draining = False

    def __len__(self) -> int:
        return len(self._by_robot)

    def add(self, conn: Connection) -> None:
        old = self._by_robot.get(conn.robot_id)
        self._by_robot[conn.robot_id] = conn
        if old is not None and old is not conn:
            old.close(1000, "superseded")

    def remove(self, conn: Connection) -> None:
        if self._by_robot.get(conn.robot_id) is conn:
            del self._by_robot[conn.robot_id]

    def get(self, robot_id: str) -> Connection | None:
        return self._by_robot.get(robot_id)

    def on_bus(self, kind: str, robot_id: str, detail: str) -> None:
        conn = self._by_robot.get(robot_id)
        if kind == "mail":
            if conn is not None:
                conn.wake()
            waiter = self._http_waiters.get(robot_id)
            if waiter is not None:
                waiter.set()
        elif kind == "supersede" and conn is not None and conn.connect_id == detail:
            with contextlib.suppress(Exception):
                conn.send(
                    frame(ERROR, {"errorCode": DUPLICATE_CONNECTION, "message": "connection superseded"})
                )
            conn.close(1000, "superseded")
            self.remove(conn)

    def wait_for_mail(self, robot_id: str, seconds: float, touch=None, slice_seconds: float = 5.0) -> None:
        """Long poll of an HTTP heartbeat: block up to ``seconds`` or until the robot gets mail.

        A robot waiting in a long poll is alive: ``touch`` is called every ``slice_seconds`` so the
        heartbeat rule does not declare it lost while it waits.
        """
        event = self._http_waiters.get(robot_id)
        if event is None:
            event = self._http_waiters[robot_id] = Event()
        event.clear()
        try:
            remaining = seconds
            while remaining > 0 and not self.draining:
                step = min(remaining, slice_seconds)
                if event.wait(timeout=step):
                    break
                remaining -= step
                if touch is not None:
                    touch()
        finally:
            if self._http_waiters.get(robot_id) is event:
                del self._http_waiters[robot_id]

    def close_all(self, code: int = 1001, reason: str = "going away") -> int:
        """Close every connection (SIGTERM drain): executors reconnect elsewhere."""
        self.draining = True
        conns = list(self._by_robot.values())
        for conn in conns:
            conn.close(code, reason)
        self._by_robot.clear()
        for event in self._http_waiters.values():
            event.set()
        return len(conns)
