"""The key-value/bus client: real Redis in production, an in-process fakeredis in embedded mode."""

from __future__ import annotations

import redis


def make_redis(url: str) -> redis.Redis:
    """A Redis client for ``url``; an empty url gives a client of a new in-process fakeredis server
    (one per app: two embedded apps in one process share nothing)."""
    if url:
        return redis.Redis.from_url(url, health_check_interval=30, socket_keepalive=True)
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())
