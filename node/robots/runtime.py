"""The robots kernel's parts of one app: the command bus, presence, and the suppliers' engines."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from flask import Flask, current_app

from node.robots.bus import CommandBus
from node.robots.presence import Presence

KEY = "rpa.robots"


@dataclass
class EnginesCache:
    """Engines each enabled supplier's robots run, read on every dispatch and kept a few seconds
    (suppliers change rarely; a change in this process drops it at once)."""

    ttl: float = 5.0
    value: dict[str, set[str]] | None = None
    read_at: float = 0.0

    def fresh(self) -> dict[str, set[str]] | None:
        if self.value is not None and time.monotonic() - self.read_at <= self.ttl:
            return self.value
        return None

    def keep(self, value: dict[str, set[str]]) -> dict[str, set[str]]:
        self.value, self.read_at = value, time.monotonic()
        return value

    def forget(self) -> None:
        self.value = None


@dataclass
class RobotsRuntime:
    bus: CommandBus
    presence: Presence
    engines: EnginesCache


def init_app(app: Flask, redis_client: redis.Redis, distributed: bool) -> RobotsRuntime:
    """Build the kernel's parts for ``app`` (no background work: the ticker flushes presence)."""
    parts = RobotsRuntime(
        bus=CommandBus(redis_client, distributed=distributed),
        presence=Presence(app, redis_client),
        engines=EnginesCache(),
    )
    app.extensions[KEY] = parts
    return parts


def robots_runtime() -> RobotsRuntime:
    """The robots kernel's parts of the current app."""
    return current_app.extensions[KEY]
