"""Executor SDK: a typed client for the node's executor protocol (protocol.md).

Public API::

    from executor.sdk import WsTransport, HttpTransport, make_transport, Command, ExecuteBody, RunInstanceLog
    from executor.sdk import ProtocolError, ConnectionLost, IntegrityError, build_supplier_secret, RunContext
"""

from executor.sdk.errors import ConnectionLost, IntegrityError, ProtocolError, SdkError
from executor.sdk.files import FileClient, sha256_file
from executor.sdk.http import HttpTransport
from executor.sdk.messages import (
    LOG_ERROR,
    LOG_INFO,
    LOG_WARNING,
    STATUS_CANCELLED,
    STATUS_FAILED,
    STATUS_SUCCESS,
    Argument,
    Command,
    ExecuteBody,
    RunInstanceLog,
)
from executor.sdk.runtime import RunContext
from executor.sdk.transport import Transport
from executor.sdk.ws import WsTransport
from protocol.secret import build_supplier_secret


def make_transport(
    protocol: str, node_url: str, robot_id: str, supplier_code: str, supplier_secret: str, **kw
):
    """Build a :class:`WsTransport` (``protocol="ws"``) or :class:`HttpTransport` (``"http"``)."""
    classes = {"ws": WsTransport, "http": HttpTransport}
    try:
        cls = classes[protocol.lower()]
    except KeyError:
        raise ValueError(f"protocol must be 'ws' or 'http', not {protocol!r}") from None
    return cls(node_url, robot_id, supplier_code, supplier_secret, **kw)


__all__ = [
    "LOG_ERROR",
    "LOG_INFO",
    "LOG_WARNING",
    "STATUS_CANCELLED",
    "STATUS_FAILED",
    "STATUS_SUCCESS",
    "Argument",
    "Command",
    "ConnectionLost",
    "ExecuteBody",
    "FileClient",
    "HttpTransport",
    "IntegrityError",
    "ProtocolError",
    "RunContext",
    "RunInstanceLog",
    "SdkError",
    "Transport",
    "WsTransport",
    "build_supplier_secret",
    "make_transport",
    "sha256_file",
]
