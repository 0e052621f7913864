"""WebSocket transport: ``GET /robothub/{robotId}`` (protocol.md §2)."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import quote, urlsplit

import simple_websocket
from simple_websocket.ws import Base
from wsproto import ConnectionType

from executor.sdk import messages as m
from executor.sdk.errors import ConnectionLost, ProtocolError
from executor.sdk.transport import Transport

log = logging.getLogger(__name__)


def _daemon_thread(**kwargs: Any) -> threading.Thread:
    """simple-websocket's reader thread, as a daemon: it must not keep a stopping executor alive."""
    return threading.Thread(daemon=True, **kwargs)


class _Client(simple_websocket.Client):
    """``simple_websocket.Client`` with a connect timeout that closes its socket when it fails."""

    def __init__(
        self, url: str, connect_timeout: float, ping_interval: float | None, thread_class: Any = None
    ) -> None:
        parsed = urlsplit(url)
        secure = parsed.scheme == "wss"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if secure else 80)
        self.path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
        self.subprotocols = []
        self.extra_headeers = []  # sic: the attribute name simple_websocket uses
        sock = socket.create_connection((self.host, self.port), timeout=connect_timeout)
        try:
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            Base.__init__(
                self,
                sock,
                connection_type=ConnectionType.CLIENT,
                ping_interval=ping_interval,
                thread_class=thread_class,
            )
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise


def ws_url(node_url: str, robot_id: str) -> str:
    """``http(s)://host[/prefix]`` -> ``ws(s)://host[/prefix]/robothub/{robotId}``."""
    base = node_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return f"{base}/robothub/{quote(robot_id, safe='')}"


class WsTransport(Transport):
    """Executor side of the WebSocket binding.

    The node answers a good ``Register`` with nothing (or ``SendLicense``), so :meth:`connect`
    waits up to ``register_wait`` seconds for an ``Error``; frames that arrive meanwhile are kept
    for :meth:`next_command`. Over WS the node acknowledges nothing: a report counts as sent once the
    socket write succeeded.
    """

    protocol = "ws"

    def __init__(self, *args: Any, register_wait: float = 1.0, ping_interval: float | None = 20, **kw: Any):
        super().__init__(*args, **kw)
        self.register_wait = register_wait
        self.ping_interval = ping_interval
        self._ws: simple_websocket.Client | None = None
        self._send_lock = threading.Lock()
        self._pending: collections.deque[m.Command] = collections.deque()
        self._registered = False

    def file_headers(self) -> dict[str, str]:
        # A WS robot has no robotConnectId: it proves itself with a fresh supplier secret.
        return {
            "robotId": self.robot_id,
            "supplierCode": self.supplier_code,
            "supplierSecret": self.supplier_secret(),
        }

    @property
    def connected(self) -> bool:
        """Registered and open: reports written now go to a connection the node has accepted."""
        return self._ws is not None and self._ws.connected and self._registered

    def connect(self, version: str | None = None) -> str | None:
        self.close()
        # A new generation before the new socket exists: nothing written from here on can be taken
        # for a write on the old connection (whose unconfirmed reports must be sent again, first).
        self.generation += 1
        url = ws_url(self.node_url, self.robot_id)
        try:
            ws = _Client(
                url,
                connect_timeout=self.timeout,
                ping_interval=self.ping_interval,
                thread_class=_daemon_thread,
            )
        except (OSError, simple_websocket.ConnectionError, simple_websocket.ConnectionClosed) as exc:
            raise ConnectionLost(f"WebSocket {url}: {exc!r}") from exc
        self._ws = ws
        self._pending.clear()
        self.license_content = None
        self._write(m.REGISTER, self.register_body(version))
        deadline = time.monotonic() + self.register_wait
        while (left := deadline - time.monotonic()) > 0:
            cmd = self._receive(left, during_register=True)
            if cmd is None:
                if self._ws is None or not self._ws.connected:
                    raise ConnectionLost("connection closed during Register")
                break
            if cmd.action == m.ERROR:
                self.close()
                raise ProtocolError(cmd.error_code or 0, cmd.message)
            if cmd.action == m.SEND_LICENSE:
                self.license_content = str((cmd.body or {}).get("licenseContent") or "") or None
                break
            self._pending.append(cmd)  # an Execute right after registering: keep it
            break
        self._registered = True
        log.info("Robot %s: registered over WebSocket at %s", self.robot_id, url)
        return self.license_content

    def close(self) -> None:
        self._registered = False
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):  # already closed or broken: nothing to do
                ws.close()

    def _write(self, action: str, body: dict[str, Any] | None) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        data = m.frame(action, body)
        try:
            with self._send_lock:
                ws.send(data)
        except (OSError, simple_websocket.ConnectionClosed) as exc:
            raise ConnectionLost(f"{action}: {exc!r}") from exc

    def send(self, action: str, body: dict[str, Any] | None) -> Any:
        if action == m.REGISTER:
            return self.connect((body or {}).get("version"))
        self._write(action, body)
        return None

    def _receive(self, timeout: float, during_register: bool = False) -> m.Command | None:
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        try:
            data = ws.receive(timeout=timeout)
        except (OSError, simple_websocket.ConnectionClosed) as exc:
            if during_register:
                return None
            raise ConnectionLost(f"connection closed: {exc!r}") from exc
        if data is None:
            if not ws.connected and not during_register:
                raise ConnectionLost("connection closed")
            return None
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict):
                raise ValueError("frame is not an object")
        except ValueError:
            log.warning("Robot %s: ignoring malformed frame %.200r", self.robot_id, data)
            return None
        return m.Command.from_frame(raw)

    def next_command(self, timeout: float) -> m.Command | None:
        if self._pending:
            return self._pending.popleft()
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            cmd = self._receive(max(deadline - time.monotonic(), 0))
            if cmd is not None:
                if cmd.action == m.SEND_LICENSE:
                    self.license_content = str((cmd.body or {}).get("licenseContent") or "") or None
                return cmd
            if time.monotonic() >= deadline:
                return None
