"""The command bus: wakes whichever process holds a robot's connection when the robot has mail.

The command itself is a row in ``robot_command`` (the database is the truth); the bus only carries
"robot X has commands" or "robot X's connection is superseded". In embedded mode it is in-process; in
production it is Redis pub/sub, so a run started on any gunicorn worker or host reaches the executor
connected to any other. A lost notification costs latency, not data: connections also poll.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from functools import partial

import gevent

from common.db import on_commit

log = logging.getLogger(__name__)

CHANNEL = "rpa:robot-bus"
Handler = Callable[[str, str, str], None]  # (kind, robot_id, detail)


class CommandBus:
    """Publish/subscribe of robot notifications. ``kind`` is ``mail`` or ``supersede``."""

    def __init__(self, redis_client, distributed: bool) -> None:
        self._redis = redis_client
        self._distributed = distributed
        self._handler: Handler | None = None
        self._listener: gevent.Greenlet | None = None

    def subscribe(self, handler: Handler) -> None:
        """Deliver every notification to ``handler`` (one per process: the connection registry).
        Notifications from other processes arrive once ``start`` has run."""
        self._handler = handler

    def start(self) -> None:
        """Listen to other processes' notifications (Redis pub/sub; in-process mode needs nothing).
        Only a serving process does: a CLI or RQ job publishes, and its loop never runs a listener."""
        if self._distributed and self._listener is None:
            self._listener = gevent.spawn(self._listen)

    def deliver_here(self, kind: str, robot_id: str, detail: str = "") -> None:
        """Hand a notification to this process's handler only (a sweep that found lost mail)."""
        if self._handler is not None:
            self._handler(kind, robot_id, detail)

    def publish(self, kind: str, robot_id: str, detail: str = "") -> None:
        """Notify every process (Redis pub/sub in production; this process's handler otherwise)."""
        if self._distributed:
            try:
                self._redis.publish(CHANNEL, json.dumps([kind, robot_id, detail]))
                return
            except Exception:  # Redis down: the poll loop still delivers; say so once per failure
                log.warning("Bus: publish for robot %s failed; delivery falls back to polling", robot_id)
        if self._handler is not None:
            self._handler(kind, robot_id, detail)

    def _listen(self) -> None:
        """Reconnecting subscriber greenlet (Redis pub/sub)."""
        backoff = 0.5
        while True:
            pubsub = None
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                backoff = 0.5
                for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    try:
                        kind, robot_id, detail = json.loads(msg["data"])
                    except (ValueError, TypeError):
                        continue
                    if self._handler is not None:
                        self._handler(kind, robot_id, detail)
            except gevent.GreenletExit:
                raise
            except Exception as exc:
                log.warning("Bus: subscriber lost Redis (%s); reconnecting in %.1fs", exc, backoff)
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()

    def close(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.kill(block=False)
            self._listener = None


def notify_after_commit(bus: CommandBus, kind: str, robot_id: str, detail: str = "") -> None:
    """Publish after the surrounding transaction commits (never for a rolled-back change)."""
    on_commit(partial(bus.publish, kind, robot_id, detail))
