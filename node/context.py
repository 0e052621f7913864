"""The node's runtime parts, built once by the app factory and reached through ``runtime()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

from common.crypto import SecretBox
from common.files import BlobStore, LinkSigner
from config.settings import NodeConfig

if TYPE_CHECKING:
    import redis

    from node.hub.bus import CommandBus
    from node.hub.connections import ConnectionRegistry
    from node.hub.ingest import LogWriter
    from node.hub.presence import Presence
    from node.schedule.batches import RunDesk


@dataclass
class NodeRuntime:
    """Everything a service needs besides the database session."""

    config: NodeConfig
    secret_key: str
    box: SecretBox
    blobs: BlobStore
    links: LinkSigner
    redis: redis.Redis
    bus: CommandBus
    connections: ConnectionRegistry
    logs: LogWriter
    presence: Presence
    desk: RunDesk
    extras: dict[str, Any] = field(default_factory=dict)


def runtime() -> NodeRuntime:
    """The runtime of the current app (inside an app context)."""
    return current_app.extensions["rpa"]
