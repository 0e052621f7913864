"""What a process package sees of its run: :class:`RunContext` built from the executor's env vars.

The reference executor starts the robot process with these variables (executor/README.md):
``RPA_NODE_URL``, ``RPA_ROBOT_ID``, ``RPA_RUN_ID``, ``RPA_USER_ID``, ``RPA_USER_NAME``,
``RPA_ATTEMPT``, ``RPA_OUTPUT_DIR`` and the credentials for the file API: ``RPA_RUN_TOKEN`` (a
credential scoped to this run, from the node's Execute) or, from nodes that do not issue one,
``RPA_ROBOT_CONNECT_ID`` (HTTP robots) and/or ``RPA_SUPPLIER_CODE`` + ``RPA_SUPPLIER_SECRET``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from executor.sdk.errors import ProtocolError
from executor.sdk.files import FileClient
from protocol.secret import build_supplier_secret


@dataclass
class RunContext:
    """The current run and a file client authenticated as the robot that executes it."""

    node_url: str
    robot_id: str
    run_id: str
    user_id: str = ""
    user_name: str = ""
    attempt: int = 1
    output_dir: Path = field(default_factory=Path.cwd)
    robot_connect_id: str | None = None
    supplier_code: str | None = None
    supplier_secret: str | None = None
    run_token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunContext:
        """Build from ``RPA_*`` variables; raises ``KeyError`` naming a missing required one."""
        env = os.environ if env is None else env
        return cls(
            node_url=env["RPA_NODE_URL"],
            robot_id=env["RPA_ROBOT_ID"],
            run_id=env["RPA_RUN_ID"],
            user_id=env.get("RPA_USER_ID", ""),
            user_name=env.get("RPA_USER_NAME", ""),
            attempt=int(env.get("RPA_ATTEMPT") or 1),
            output_dir=Path(env.get("RPA_OUTPUT_DIR") or Path.cwd()),
            robot_connect_id=env.get("RPA_ROBOT_CONNECT_ID") or None,
            supplier_code=env.get("RPA_SUPPLIER_CODE") or None,
            supplier_secret=env.get("RPA_SUPPLIER_SECRET") or None,
            run_token=env.get("RPA_RUN_TOKEN") or None,
        )

    def _headers(self, prefer_connect_id: bool) -> dict[str, str]:
        headers = {"robotId": self.robot_id}
        if self.run_token:
            headers["runToken"] = self.run_token
        elif prefer_connect_id and self.robot_connect_id:
            headers["robotConnectId"] = self.robot_connect_id
        elif self.supplier_code and self.supplier_secret:
            headers["supplierCode"] = self.supplier_code
            headers["supplierSecret"] = build_supplier_secret(
                self.robot_id, self.supplier_code, self.supplier_secret
            )
        elif self.robot_connect_id:
            headers["robotConnectId"] = self.robot_connect_id
        return headers

    def _call(self, fn_name: str, *args: Any) -> Any:
        # The executor may have re-registered since it started us (new robotConnectId): fall back to
        # the supplier credentials on a 401.
        try:
            return getattr(FileClient(self.node_url, lambda: self._headers(True)), fn_name)(*args)
        except ProtocolError as exc:
            if exc.status == 401 and self.robot_connect_id and self.supplier_secret:
                return getattr(FileClient(self.node_url, lambda: self._headers(False)), fn_name)(*args)
            raise

    def upload_file(self, path: str | os.PathLike[str], source: str = "file") -> dict[str, Any]:
        """Upload a file as this robot; returns ``{fileId, fileName, fileUrl}``."""
        return self._call("upload_file", source, path)

    def put_personal_file(self, file_id: str, file_name: str) -> Any:
        """Put an uploaded file into the personal folder of the user who started this run."""
        return self._call("put_personal_file", file_id, file_name, self.run_id, self.user_id, self.user_name)

    def deliver_to_user(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Upload ``path`` and put it into the run user's personal folder; returns the upload answer."""
        info = self.upload_file(path)
        self.put_personal_file(info["fileId"], info.get("fileName") or Path(path).name)
        return info
