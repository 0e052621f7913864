"""File calls shared by both transports: upload, personal folder, verified download (protocol.md §4)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import requests

from executor.sdk.errors import UNKNOWN_ERROR, ConnectionLost, IntegrityError, ProtocolError

HeaderFactory = Callable[[], dict[str, str]]

#: Upload sources the node knows (standard + extensions).
UPLOAD_SOURCES = ("file", "demand", "icon", "video", "screenshot", "checkpoint", "package")


def unwrap(resp: requests.Response) -> Any:
    """Return ``resultValue`` of an envelope answer, or raise.

    Raises :class:`ProtocolError` for a refusal the node explains (4xx or ``successful: false``) and
    :class:`ConnectionLost` for a 5xx or an answer that is not the envelope (a proxy page, say).
    """
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or "successful" not in data:
        if resp.status_code >= 500 or resp.status_code in (502, 503, 504):
            raise ConnectionLost(f"HTTP {resp.status_code} from {resp.url}")
        if resp.ok:
            return data
        raise ProtocolError(UNKNOWN_ERROR, f"HTTP {resp.status_code} from {resp.url}", resp.status_code)
    if resp.ok and data.get("successful"):
        return data.get("resultValue")
    value = data.get("resultValue")
    code = value.get("errorCode") if isinstance(value, dict) else None
    try:
        code = int(code) if code is not None else UNKNOWN_ERROR
    except (TypeError, ValueError):
        code = UNKNOWN_ERROR
    if resp.status_code >= 500:
        raise ConnectionLost(f"HTTP {resp.status_code}: {data.get('resultHint') or ''}")
    raise ProtocolError(code, str(data.get("resultHint") or ""), resp.status_code)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FileClient:
    """Upload, personal-folder and download calls against one node for one robot.

    ``headers`` is called before every request and returns the robot's credentials: ``robotId`` +
    ``robotConnectId`` for an HTTP-registered robot, ``robotId`` + ``supplierCode`` + a fresh
    ``supplierSecret`` for a WebSocket one.
    """

    def __init__(
        self,
        node_url: str,
        headers: HeaderFactory,
        session: requests.Session | None = None,
        timeout: float = 60,
    ) -> None:
        self.node_url = node_url.rstrip("/")
        self._headers = headers
        self.session = session or requests.Session()
        self.timeout = timeout

    def _post(self, path: str, **kw: Any) -> Any:
        try:
            resp = self.session.post(
                self.node_url + path, headers=self._headers(), timeout=kw.pop("timeout", self.timeout), **kw
            )
        except requests.RequestException as exc:
            raise ConnectionLost(f"POST {path}: {exc}") from exc
        return unwrap(resp)

    def upload_file(
        self,
        source: str,
        path: str | os.PathLike[str] | BinaryIO,
        fields: Mapping[str, str] | None = None,
        file_name: str | None = None,
    ) -> dict[str, Any]:
        """Upload a file (``POST /v1/file/{source}/upload``); returns ``{fileId, fileName, fileUrl}``.

        ``path`` is a file path or a binary file object; ``fields`` are extra form fields (the
        ``checkpoint`` source takes ``runInstanceId``).
        """
        if source not in UPLOAD_SOURCES:
            raise ValueError(f"unknown upload source {source!r}")
        if isinstance(path, str | os.PathLike):
            name = file_name or Path(path).name
            with open(path, "rb") as fh:
                return self._upload(source, name, fh, fields)
        return self._upload(source, file_name or getattr(path, "name", "file"), path, fields)

    def _upload(
        self, source: str, name: str, fh: BinaryIO, fields: Mapping[str, str] | None
    ) -> dict[str, Any]:
        value = self._post(
            f"/v1/file/{source}/upload", files={"file": (Path(name).name, fh)}, data=dict(fields or {})
        )
        if not isinstance(value, dict) or not value.get("fileId"):
            raise ProtocolError(UNKNOWN_ERROR, f"upload answer without fileId: {value!r}")
        return value

    def put_personal_file(
        self, file_id: str, file_name: str, run_id: str, user_id: str, user_name: str
    ) -> Any:
        """Put an uploaded file into the personal folder of the run's user (``POST /design/personalfile``)."""
        body = {
            "fileId": file_id,
            "fileName": file_name,
            "runInstanceId": run_id,
            "userId": user_id,
            "userName": user_name,
        }
        return self._post("/design/personalfile", json=body)

    def download(
        self, url: str, dest: str | os.PathLike[str], sha256: str | None = None, timeout: float | None = None
    ) -> Path:
        """GET ``url`` (a signed link; relative URLs are resolved against the node) into ``dest``.

        The file appears at ``dest`` only complete and, when ``sha256`` is given, only if it matches
        (:class:`IntegrityError` otherwise). Returns ``dest``.
        """
        if url.startswith("/"):
            url = self.node_url + url
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".dl-")
        try:
            try:
                with self.session.get(url, stream=True, timeout=timeout or self.timeout) as resp:
                    if not resp.ok:
                        unwrap(resp)  # raises with the node's reason
                    with os.fdopen(fd, "wb") as out:
                        fd = -1
                        for chunk in resp.iter_content(1 << 16):
                            h.update(chunk)
                            out.write(chunk)
            except requests.RequestException as exc:
                raise ConnectionLost(f"GET {url.split('?')[0]}: {exc}") from exc
            if sha256 and h.hexdigest().lower() != sha256.lower():
                raise IntegrityError(f"SHA-256 mismatch: expected {sha256}, got {h.hexdigest()}")
            os.replace(tmp, dest)
            tmp = ""
            return dest
        finally:
            if fd >= 0:
                os.close(fd)
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
