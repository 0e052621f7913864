"""The transport interface shared by :class:`WsTransport` and :class:`HttpTransport`."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import requests

from executor.sdk import messages as m
from executor.sdk.files import FileClient
from protocol.secret import build_supplier_secret

log = logging.getLogger(__name__)

SDK_VERSION = "0.1.0"


class Transport(ABC):
    """One robot's connection to one node.

    Both implementations have the same methods and raise the same exceptions:
    :class:`~executor.sdk.errors.ProtocolError` when the node refuses something and
    :class:`~executor.sdk.errors.ConnectionLost` when the node cannot be reached (call
    :meth:`connect` again, with a backoff). Report methods may be called from several threads;
    :meth:`next_command` is meant for a single reader thread.
    """

    protocol: str = ""

    def __init__(
        self,
        node_url: str,
        robot_id: str,
        supplier_code: str,
        supplier_secret: str,
        *,
        version: str = SDK_VERSION,
        timeout: float = 30,
        session: requests.Session | None = None,
    ) -> None:
        self.node_url = node_url.rstrip("/")
        self.robot_id = robot_id
        self.supplier_code = supplier_code
        self._raw_secret = supplier_secret
        self.version = version
        self.timeout = timeout
        self.session = session or requests.Session()
        self.license_content: str | None = None
        #: Run id sent with the heartbeats :meth:`next_command` makes on its own (HTTP long poll).
        self.current_run_id: str | None = None
        #: Incremented on every successful :meth:`connect`; lets callers tell connections apart.
        self.generation = 0
        self.files = FileClient(self.node_url, self.file_headers, self.session, timeout=max(timeout, 60))

    # -- credentials ---------------------------------------------------------------------------
    def supplier_secret(self) -> str:
        """A fresh ``{ts}.{nonce}.{sig}`` value (never the raw secret)."""
        return build_supplier_secret(self.robot_id, self.supplier_code, self._raw_secret)

    def register_body(self, version: str | None = None) -> dict[str, Any]:
        """Body of ``Register``."""
        return {
            "supplierCode": self.supplier_code,
            "supplierSecret": self.supplier_secret(),
            "version": version or self.version,
        }

    @abstractmethod
    def file_headers(self) -> dict[str, str]:
        """Headers that authenticate this robot on the file API."""

    # -- connection ----------------------------------------------------------------------------
    @abstractmethod
    def connect(self, version: str | None = None) -> str | None:
        """Open the connection and register; returns the license content, if one is bound.

        Raises ``ProtocolError`` (10002 bad supplier secret, 10004 disabled/pending, 10000 duplicate
        connection, ...) or ``ConnectionLost``.
        """

    def register(self, version: str | None = None) -> str | None:
        """Alias of :meth:`connect` (the standard's name for it)."""
        return self.connect(version)

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True after a successful :meth:`connect` until the connection is known to be lost."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (idempotent)."""

    # -- executor -> node ----------------------------------------------------------------------
    @abstractmethod
    def send(self, action: str, body: dict[str, Any] | None) -> Any:
        """Send one action; returns the HTTP ``resultValue`` (``None`` over WS)."""

    def heartbeat(
        self,
        run_instance_id: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        confirm: str | None = None,
    ) -> None:
        """Tell the node this robot is alive (and which run it executes).

        ``confirm`` (extension, WebSocket): the node answers ``Confirm {confirm}`` once it has
        handled every frame sent before this heartbeat (nodes that do not know it ignore it).
        """
        body: dict[str, Any] = {"runInstanceId": run_instance_id}
        if metrics:
            body["metrics"] = dict(metrics)
        if confirm:
            body["confirm"] = confirm
        self.send(m.HEARTBEAT, body)

    def report_logs(self, run_id: str, logs: Iterable[m.RunInstanceLog | Mapping[str, Any]]) -> None:
        """Send a batch of 1-1000 logs of a run."""
        items = [
            (x if isinstance(x, m.RunInstanceLog) else m.RunInstanceLog.model_validate(x)).to_wire()
            for x in logs
        ]
        if not items:
            return
        for start in range(0, len(items), m.MAX_LOGS_PER_REPORT):
            self.send(
                m.REPORT_LOGS, {"runInstanceId": run_id, "logs": items[start : start + m.MAX_LOGS_PER_REPORT]}
            )

    def report_finish(self, run_id: str, status: int, error_code: int | None = None) -> None:
        """Report the end of a run: status 0 success, 1 cancelled, 2 failed."""
        body: dict[str, Any] = {"runInstanceId": run_id, "status": int(status)}
        if error_code is not None:
            body["errorCode"] = int(error_code)
        self.send(m.REPORT_FINISH, body)

    def report_video(self, run_id: str, video_id: str) -> None:
        """Report the recording of a run (after its ``report_finish``)."""
        self.send(m.REPORT_VIDEO_RECORD, {"runInstanceId": run_id, "videoId": video_id})

    # -- node -> executor ----------------------------------------------------------------------
    @abstractmethod
    def next_command(self, timeout: float) -> m.Command | None:
        """Wait up to ``timeout`` seconds for the next command (Execute, Stop, SendLicense, Error)."""

    # -- files ---------------------------------------------------------------------------------
    def upload_file(
        self,
        source: str,
        path: str | os.PathLike[str] | BinaryIO,
        fields: Mapping[str, str] | None = None,
        file_name: str | None = None,
    ) -> dict[str, Any]:
        """Upload a file; returns ``{fileId, fileName, fileUrl}``. See :meth:`FileClient.upload_file`."""
        return self.files.upload_file(source, path, fields, file_name)

    def put_personal_file(
        self, file_id: str, file_name: str, run_id: str, user_id: str, user_name: str
    ) -> Any:
        """Put an uploaded file into the personal folder of the user who started ``run_id``."""
        return self.files.put_personal_file(file_id, file_name, run_id, user_id, user_name)

    def download(self, url: str, dest: str | os.PathLike[str], sha256: str | None = None) -> Path:
        """Download a signed URL to ``dest``, verifying ``sha256`` when given."""
        return self.files.download(url, dest, sha256)

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
