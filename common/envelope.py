"""The response envelope shared by the protocol and the management API, and its errors."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic import ValidationError

# Protocol error codes (protocol.md §5). The first three are the standard's.
DUPLICATE_CONNECTION = 10000  # duplicate or superseded connection
BAD_REQUEST = 10001  # bad request fields
SUPPLIER_AUTH_FAILED = 10002
NOT_REGISTERED = 10003
ROBOT_DISABLED = 10004  # disabled, or pending approval
LICENSE_UNAVAILABLE = 10005
UNKNOWN_RUN = 10006  # unknown or foreign runInstanceId
TOO_LARGE = 10007
THROTTLED = 10008
NOT_FOUND = 10404  # management API: no such object
FORBIDDEN = 10403  # management API: permission missing
CONFLICT = 10409  # management API: state does not allow it
UNKNOWN_ERROR = 19999


class ApiError(Exception):
    """A failure to report in the envelope: HTTP status, error code and a hint naming the field."""

    def __init__(self, code: int, hint: str, status: int = 400) -> None:
        super().__init__(hint)
        self.code = code
        self.hint = hint
        self.status = status


def envelope(value: Any = None, hint: str = "ok", status: int = 200):
    """A successful envelope response."""
    resp = jsonify({"successful": True, "resultHint": hint, "resultValue": value})
    resp.status_code = status
    return resp


def error_envelope(code: int, hint: str, status: int = 400):
    """A failed envelope response: ``resultValue`` is ``{"errorCode": code}``."""
    resp = jsonify({"successful": False, "resultHint": hint, "resultValue": {"errorCode": code}})
    resp.status_code = status
    return resp


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first bad field and why, e.g. ``logs[3].logLevel: must be 0, 1 or 2``."""
    parts = []
    for err in exc.errors()[:3]:
        loc = ""
        for item in err.get("loc", ()):
            loc += f"[{item}]" if isinstance(item, int) else (f".{item}" if loc else str(item))
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{loc or 'body'}: {msg}")
    return "; ".join(parts)


def from_validation_error(exc: ValidationError) -> ApiError:
    """Turn a pydantic error into a 400/10001 naming the field."""
    return ApiError(BAD_REQUEST, describe_validation_error(exc), 400)
