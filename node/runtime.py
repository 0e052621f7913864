"""The node's shared runtime parts, built once per app by the factory and reached through ``runtime()``.

Each kernel keeps its own parts beside these, on its own ``app.extensions`` key, built by its
``init_app`` (``node.robots.runtime``, ``node.runs.runtime``, ``node.hub.runtime``, the package
version cache). Nothing lives at module level: two apps in one process share no session, cache or
connection.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from common.crypto import SecretBox
from common.files import BlobStore, LinkSigner
from common.jobs import Ticker
from common.runtime_tuning import GcPolicy
from common.sqlite_wal import WalCheckpointer
from config.settings import NodeConfig


@dataclass
class NodeRuntime:
    """What every kernel and center needs besides the database session."""

    config: NodeConfig
    secret_key: str
    box: SecretBox
    blobs: BlobStore
    links: LinkSigner
    redis: redis.Redis
    ticker: Ticker
    gc: GcPolicy | None = None  # started by ``start_background`` (serving processes only)
    wal: WalCheckpointer | None = None  # SQLite file databases only


def runtime() -> NodeRuntime:
    """The runtime of the current app (inside an app context)."""
    return current_app.extensions["rpa"]
