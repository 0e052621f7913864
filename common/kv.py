"""The key-value/bus client: real Redis in production, in-process fakeredis in embedded mode."""

from __future__ import annotations

import redis

_FAKE_SERVERS: dict[str, object] = {}


def make_redis(url: str, name: str = "embedded") -> redis.Redis:
    """A Redis client for ``url``; an empty url gives a fakeredis client on a per-name in-process server."""
    if url:
        return redis.Redis.from_url(url, health_check_interval=30, socket_keepalive=True)
    import fakeredis

    server = _FAKE_SERVERS.get(name)
    if server is None:
        server = _FAKE_SERVERS[name] = fakeredis.FakeServer()
    return fakeredis.FakeRedis(server=server)
