"""Sizes and waits both sides of the protocol rely on. A node refuses more with 10001 or 10007; the
SDK splits or truncates before sending, so a well-behaved executor never meets those refusals."""

from __future__ import annotations

MAX_FRAME_BYTES = 1024 * 1024  # a WebSocket frame or an HTTP protocol body (a node may set it lower)
MAX_LOGS_PER_REPORT = 1000  # RunInstanceLog items in one ReportLogs
MAX_LOG_CONTENT = 64 * 1024  # characters of one log line's content (the SDK cuts at this many UTF-8 bytes)
MAX_WAIT_SECONDS = 30  # the longest X-Wait-Seconds long poll of an HTTP heartbeat
NONCE_MIN, NONCE_MAX = 16, 64  # length of a supplierSecret nonce
