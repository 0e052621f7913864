"""Exceptions and error codes of the executor protocol (protocol.md §5)."""

from __future__ import annotations

# Node error codes (standard A.3.5 and protocol.md extensions).
DUPLICATE_CONNECTION = 10000  # duplicate or superseded connection; the node closes it
BAD_REQUEST = 10001  # bad request fields
SUPPLIER_AUTH_FAILED = 10002
NOT_REGISTERED = 10003
ROBOT_DISABLED = 10004  # disabled, or pending approval by a node admin
LICENSE_UNAVAILABLE = 10005
UNKNOWN_RUN = 10006  # unknown or foreign runInstanceId
TOO_LARGE = 10007
THROTTLED = 10008
UNKNOWN_ERROR = 19999

#: Codes after which trying again with the same credentials is pointless until an admin acts.
FATAL_CODES = frozenset({SUPPLIER_AUTH_FAILED, ROBOT_DISABLED})


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
