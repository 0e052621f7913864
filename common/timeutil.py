"""Time helpers: UTC inside, the node's zone (default Asia/Shanghai) at the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["UTC", "NODE_ZONE", "utcnow", "iso"]

# Protocol times without an offset are in the node's zone (protocol.md §5).
NODE_ZONE = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
