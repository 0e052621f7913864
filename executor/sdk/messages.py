"""Typed messages of the executor protocol (protocol.md §2-§5, standard appendix A).

Python attributes are snake_case; on the wire every field is camelCase (``model_dump(by_alias=True)``
or :func:`to_wire`). Parsing is liberal: unknown fields are ignored, ``body`` may be a JSON string or
an object, and missing optional fields get defaults.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# The protocol's names and limits live in ``protocol``; re-exported here for SDK users.
from protocol.actions import (  # noqa: F401
    CONFIRM,
    ERROR,
    EXECUTE,
    HEARTBEAT,
    LOG_ERROR,
    LOG_INFO,
    LOG_WARNING,
    NONE,
    REGISTER,
    REPORT_FINISH,
    REPORT_LOGS,
    REPORT_VIDEO_RECORD,
    SEND_LICENSE,
    STATUS_CANCELLED,
    STATUS_FAILED,
    STATUS_SUCCESS,
    STOP,
    VIDEO_ALWAYS,
    VIDEO_NEVER,
    VIDEO_ON_FAILURE,
)
from protocol.limits import MAX_LOG_CONTENT, MAX_LOGS_PER_REPORT

MAX_LOGS_PER_BATCH = MAX_LOGS_PER_REPORT  # the SDK's earlier name


class WireModel(BaseModel):
    """Base: camelCase aliases, accepts both names, ignores unknown fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict sent to the node (camelCase, ``None`` fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Argument(WireModel):
    """A run argument (A.3.4). ``value`` is always a string on the wire."""

    name: str
    type: str = "string"
    value: str = ""

    @field_validator("value", mode="before")
    @classmethod
    def _coerce_value(cls, v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        return json.dumps(v, ensure_ascii=False)


class ExecuteBody(WireModel):
    """Body of ``Execute`` (A.1.2.1) with the protocol extensions of protocol.md §6."""

    run_instance_id: str
    package_download_uri: str
    file_upload_uri: str | None = None
    arguments: list[Argument] = Field(default_factory=list)
    video_record_required: bool = False
    video_record_mode: int = VIDEO_NEVER
    user_id: str = ""
    user_name: str = ""
    # Extensions: ignored by executors that do not know them.
    attempt: int | None = None
    checkpoint_uri: str | None = None
    timeout_seconds: float | None = None
    task_id: str | None = None
    workflow_run_id: str | None = None
    package_sha256: str | None = None
    run_token: str | None = None  # credential for this run's file calls (give it to the robot process)

    @field_validator("arguments", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return [] if v is None else v

    @field_validator("user_id", "user_name", mode="before")
    @classmethod
    def _str(cls, v: Any) -> str:
        return "" if v is None else str(v)


def now_iso() -> str:
    """Current time as ISO 8601 with an explicit offset (so the node's time zone does not matter)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def truncate_utf8(text: str, limit: int = MAX_LOG_CONTENT) -> str:
    """Cut ``text`` so that its UTF-8 encoding fits in ``limit`` bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = "…[truncated]"
    return data[: limit - len(marker.encode())].decode("utf-8", "ignore") + marker


class RunInstanceLog(WireModel):
    """One log line of a run (A.3.1)."""

    content: str
    screenshot: str | None = None
    log_at: str = Field(default_factory=now_iso)
    log_level: int = LOG_INFO

    @field_validator("content", mode="before")
    @classmethod
    def _fit(cls, v: Any) -> str:
        return truncate_utf8("" if v is None else str(v))

    @field_validator("log_at", mode="before")
    @classmethod
    def _iso(cls, v: Any) -> str:
        if isinstance(v, datetime):
            if v.tzinfo is None:
                v = v.astimezone()
            return v.isoformat(timespec="milliseconds")
        return str(v)

    def to_wire(self) -> dict[str, Any]:
        """Like the base, but ``screenshot`` is always present (nullable in A.3.1)."""
        return self.model_dump(by_alias=True, mode="json")


class Command(BaseModel):
    """A message from the node: ``action`` plus its parsed ``body`` (a dict, or ``None``)."""

    action: str
    body: dict[str, Any] | None = None

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Command:
        """Parse a WS frame ``{"action", "body"}`` or an HTTP heartbeat answer ``{"Action", "Body"}``.

        ``body`` may be a JSON string (the standard's form) or an object; an unparsable body becomes
        ``{"raw": text}`` rather than an exception.
        """
        action = frame.get("action", frame.get("Action")) or NONE
        body = frame.get("body", frame.get("Body"))
        if isinstance(body, str | bytes):
            text = body.decode() if isinstance(body, bytes) else body
            if not text.strip():
                body = None
            else:
                try:
                    body = json.loads(text)
                except ValueError:
                    body = {"raw": text}
        if body is not None and not isinstance(body, dict):
            body = {"value": body}
        return cls(action=str(action), body=body)

    def execute(self) -> ExecuteBody:
        """The body of an ``Execute`` command as :class:`ExecuteBody` (raises ``ValidationError``)."""
        return ExecuteBody.model_validate(self.body or {})

    @property
    def error_code(self) -> int | None:
        """``errorCode`` of an ``Error`` command, if any."""
        if self.body and self.body.get("errorCode") is not None:
            try:
                return int(self.body["errorCode"])
            except (TypeError, ValueError):
                return None
        return None

    @property
    def message(self) -> str:
        """``message`` of an ``Error`` command (empty if absent)."""
        return str((self.body or {}).get("message") or "")


def frame(action: str, body: dict[str, Any] | None) -> str:
    """Encode a WS frame: ``body`` is a string holding JSON, as table A.1 asks."""
    out: dict[str, Any] = {"action": action}
    if body is not None:
        out["body"] = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))
