"""HTTP transport: ``POST /robots/connect/*`` with heartbeat long poll (protocol.md §3)."""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

import requests

from executor.sdk import messages as m
from executor.sdk.errors import UNKNOWN_ERROR, ConnectionLost, ProtocolError
from executor.sdk.files import unwrap
from executor.sdk.transport import Transport
from protocol.limits import MAX_WAIT_SECONDS  # the node's upper bound for X-Wait-Seconds

log = logging.getLogger(__name__)

PATHS = {
    m.REGISTER: "/robots/connect/register",
    m.HEARTBEAT: "/robots/connect/heartbeat",
    m.REPORT_LOGS: "/robots/connect/reportLogs",
    m.REPORT_FINISH: "/robots/connect/reportFinish",
    m.REPORT_VIDEO_RECORD: "/robots/connect/reportVideoRecord",
}


class HttpTransport(Transport):
    """Executor side of the HTTP binding.

    Commands arrive in heartbeat answers; :meth:`next_command` makes a long-poll heartbeat
    (``X-Wait-Seconds``) carrying :attr:`current_run_id`. A command returned by an explicit
    :meth:`heartbeat` is queued and handed out by the next :meth:`next_command`, so none is lost.
    """

    protocol = "http"

    def __init__(self, *args: Any, long_poll: bool = True, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.long_poll = long_poll
        self.robot_connect_id: str | None = None
        self._queue: collections.deque[m.Command] = collections.deque()
        self._lock = threading.Lock()

    def file_headers(self) -> dict[str, str]:
        headers = {"robotId": self.robot_id}
        if self.robot_connect_id:
            headers["robotConnectId"] = self.robot_connect_id
        return headers

    @property
    def connected(self) -> bool:
        return self.robot_connect_id is not None

    def connect(self, version: str | None = None) -> str | None:
        value = self._post(m.REGISTER, self.register_body(version), headers={"robotId": self.robot_id})
        if not isinstance(value, dict) or not value.get("robotConnectId"):
            raise ProtocolError(UNKNOWN_ERROR, f"register answer without robotConnectId: {value!r}")
        self.robot_connect_id = str(value["robotConnectId"])
        self.license_content = value.get("licenseContent") or None
        self.generation += 1
        log.info("Robot %s: registered over HTTP at %s", self.robot_id, self.node_url)
        return self.license_content

    def close(self) -> None:
        self.robot_connect_id = None

    def _post(
        self, action: str, body: Any, headers: dict[str, str] | None = None, wait: float | None = None
    ) -> Any:
        headers = dict(headers or self.file_headers())
        timeout = self.timeout
        if wait:
            headers["X-Wait-Seconds"] = str(int(wait))
            timeout = self.timeout + wait
        try:
            resp = self.session.post(
                self.node_url + PATHS[action], json=body, headers=headers, timeout=timeout
            )
        except requests.RequestException as exc:
            raise ConnectionLost(f"{action}: {exc}") from exc
        try:
            return unwrap(resp)
        except ProtocolError as exc:
            if exc.status == 401:
                self.robot_connect_id = None  # superseded or forgotten: register again
            raise

    def send(self, action: str, body: dict[str, Any] | None) -> Any:
        if action not in PATHS:
            raise ValueError(f"action {action!r} has no HTTP path")
        if action == m.REGISTER:
            return self.connect((body or {}).get("version"))
        if not self.connected:
            raise ConnectionLost("not registered")
        value = self._post(action, body or {})
        if action == m.HEARTBEAT:
            self._take(value)
        return value

    def _take(self, value: Any) -> m.Command | None:
        if not isinstance(value, dict):
            return None
        cmd = m.Command.from_frame(value)
        if cmd.action == m.NONE:
            return None
        with self._lock:
            self._queue.append(cmd)
        return cmd

    def next_command(self, timeout: float) -> m.Command | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if not self.connected:
            raise ConnectionLost("not registered")
        wait = min(max(timeout, 0), MAX_WAIT_SECONDS) if self.long_poll else None
        if not self.long_poll and timeout > 0:
            threading.Event().wait(timeout)
        value = self._post(m.HEARTBEAT, {"runInstanceId": self.current_run_id}, wait=wait)
        self._take(value)
        with self._lock:
            return self._queue.popleft() if self._queue else None
