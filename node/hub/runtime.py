"""The hub's parts of one app: this process's executor connections and HTTP robots' sessions."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app

from node.hub.connections import ConnectionRegistry
from node.robots import runtime as robots_parts
from node.runs.reports import RobotSession

KEY = "rpa.hub"


@dataclass
class HubRuntime:
    connections: ConnectionRegistry
    # robotId → the session of its current robotConnectId (HTTP executors) in this process.
    http_sessions: dict[str, RobotSession] = field(default_factory=dict)


def init_app(app: Flask) -> HubRuntime:
    """Build the registry for ``app`` and let it receive the robots bus's notifications."""
    parts = HubRuntime(connections=ConnectionRegistry(app))
    app.extensions[robots_parts.KEY].bus.subscribe(parts.connections.on_bus)
    app.extensions[KEY] = parts
    return parts


def hub_runtime() -> HubRuntime:
    """The hub's parts of the current app."""
    return current_app.extensions[KEY]
