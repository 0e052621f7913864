"""The response envelope shared by the protocol and the management API, and its errors."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic import ValidationError

from protocol.codes import BAD_REQUEST

# The protocol's error codes (10000-10008, 19999) live in ``protocol.codes``; the management API adds:
UNAUTHORISED = 10401  # not signed in
FORBIDDEN = 10403  # permission missing
NOT_FOUND = 10404  # no such object
CONFLICT = 10409  # the object's state does not allow it (a version that exists, a finished run)


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
