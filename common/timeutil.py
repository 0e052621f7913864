"""Time helpers: UTC inside, the node's zone (default Asia/Shanghai) at the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["UTC", "utcnow", "parse_log_time", "iso"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_log_time(value: object, tz: str = "Asia/Shanghai") -> datetime:
    """Parse a protocol ``logAt``: ISO 8601 (naive = node zone) or epoch milliseconds.

    Raises ValueError with a reason a client can read.
    """
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 string or epoch milliseconds")
    if isinstance(value, int | float):
        if not (0 <= value < 32503680000000):
            raise ValueError("epoch milliseconds out of range")
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_log_time(int(text), tz)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("not an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=ZoneInfo(tz))
        return parsed.astimezone(UTC)
    raise ValueError("must be an ISO 8601 string or epoch milliseconds")
