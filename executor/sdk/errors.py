"""Exceptions and error codes of the executor protocol (protocol.md §5)."""

from __future__ import annotations

# The protocol's error codes live in ``protocol.codes``; re-exported here for SDK users.
from protocol.codes import (  # noqa: F401
    BAD_REQUEST,
    DUPLICATE_CONNECTION,
    FATAL_CODES,
    LICENSE_UNAVAILABLE,
    NOT_REGISTERED,
    ROBOT_DISABLED,
    SUPPLIER_AUTH_FAILED,
    THROTTLED,
    TOO_LARGE,
    UNKNOWN_ERROR,
    UNKNOWN_RUN,
)


class SdkError(Exception):
    """Base of every exception the SDK raises."""


class ProtocolError(SdkError):
    """The node refused a request: ``code`` is the protocol error code, ``message`` its words."""

    def __init__(self, code: int, message: str = "", status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else str(code))
        self.code = code
        self.message = message
        self.status = status  # HTTP status, when the error came over HTTP

    @property
    def fatal(self) -> bool:
        """True when retrying cannot help (bad supplier secret, robot disabled or pending)."""
        return self.code in FATAL_CODES


class ConnectionLost(SdkError):
    """The node could not be reached or the connection dropped; reconnecting may help."""


class IntegrityError(SdkError):
    """A downloaded file does not match its expected SHA-256."""
