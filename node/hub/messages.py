"""Message models of the executor protocol (appendix A, protocol.md): what the hub accepts, validated;
the vocabulary (names, codes, limits) is ``protocol``'s."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from common.envelope import ApiError, describe_validation_error
from common.jsonbody import loads
from common.text import check_text
from common.timeutil import NODE_ZONE, UTC
from protocol.actions import HEARTBEAT, REGISTER, REPORT_FINISH, REPORT_LOGS, REPORT_VIDEO_RECORD
from protocol.codes import BAD_REQUEST
from protocol.limits import MAX_LOG_CONTENT, MAX_LOGS_PER_REPORT

RunId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:-]+$")]
FileId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _strict_int(value: Any) -> Any:
    """Accept ints (and integral strings, liberally); refuse bools and floats with a fraction."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Level = Annotated[Literal[0, 1, 2], BeforeValidator(_strict_int)]
FinishStatus = Annotated[Literal[0, 1, 2], BeforeValidator(_strict_int)]
# Error codes fit a 32-bit INTEGER column on every database.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
OptInt = Annotated[Int32 | None, BeforeValidator(_strict_int)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class RegisterBody(_Body):
    supplierCode: str = Field(min_length=1, max_length=64)
    supplierSecret: str = Field(min_length=1, max_length=256)
    version: str | None = Field(default=None, max_length=64)

    @field_validator("supplierCode", "version", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        # stored (robot.version) or looked up; the ids of other messages are held to a pattern
        return check_text(value)


class Metrics(_Body):
    cpu: float | None = Field(default=None, ge=0, le=100)
    memory: float | None = Field(default=None, ge=0, le=100)
    disk: float | None = Field(default=None, ge=0, le=100)


class HeartbeatBody(_Body):
    runInstanceId: RunId | None = None
    metrics: Metrics | None = None
    # Extension (WebSocket): answer ``Confirm {confirm}`` once every earlier frame is handled.
    confirm: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")

    @field_validator("runInstanceId", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class RunInstanceLogIn(_Body):
    # Content is stored exactly as sent: indentation of a stack trace matters.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    content: str = Field(max_length=MAX_LOG_CONTENT)
    screenshot: FileId | None = None
    logAt: datetime
    logLevel: Level

    @field_validator("logAt", mode="before")
    @classmethod
    def _epoch_ms(cls, value: Any) -> Any:
        """Numbers are epoch milliseconds (protocol.md §5), whatever their size; ISO text goes on."""
        if isinstance(value, bool):
            raise ValueError("must be an ISO 8601 date-time or epoch milliseconds")
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, int | float):
            try:
                return datetime.fromtimestamp(value / 1000, UTC)
            except (OverflowError, ValueError, OSError):
                raise ValueError("epoch milliseconds out of range") from None
        return value

    @field_validator("logAt")
    @classmethod
    def _node_zone(cls, value: datetime) -> datetime:
        # pydantic parses ISO 8601 and epoch (ms) natively; a time without offset is the node's zone.
        if value.tzinfo is None:
            value = value.replace(tzinfo=NODE_ZONE)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("date-time out of range") from None

    @field_validator("content")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL; one such line must not fail a batch shared with others.
        return value.replace("\x00", "\ufffd") if "\x00" in value else value

    @field_validator("screenshot", mode="before")
    @classmethod
    def _empty_screenshot(cls, value: Any) -> Any:
        return None if value == "" else value


class ReportLogsBody(_Body):
    runInstanceId: RunId
    logs: list[RunInstanceLogIn] = Field(min_length=1, max_length=MAX_LOGS_PER_REPORT)


class ReportFinishBody(_Body):
    runInstanceId: RunId
    status: FinishStatus
    errorCode: OptInt = None


class ReportVideoBody(_Body):
    runInstanceId: RunId
    videoId: FileId


BODIES: dict[str, type[_Body]] = {
    REGISTER: RegisterBody,
    HEARTBEAT: HeartbeatBody,
    REPORT_LOGS: ReportLogsBody,
    REPORT_FINISH: ReportFinishBody,
    REPORT_VIDEO_RECORD: ReportVideoBody,
}


def parse_body(model: type[_Body], raw: Any) -> Any:
    """Validate a body (object, or a string holding JSON); ApiError 10001 names the bad field."""
    if raw is None:
        raw = {}
    if isinstance(raw, str | bytes):
        raw = loads(raw, max_depth=None) if raw.strip() else {}
    if not isinstance(raw, dict):
        raise ApiError(BAD_REQUEST, "body: must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(BAD_REQUEST, describe_validation_error(exc)) from None


def parse_frame(text: str | bytes, max_bytes: int) -> tuple[str, Any]:
    """Split a WebSocket frame into (action, validated body)."""
    if len(text) > max_bytes:
        raise ApiError(BAD_REQUEST, f"frame: larger than {max_bytes} bytes", 413)
    frame = loads(text, "frame", max_depth=None)
    if not isinstance(frame, dict):
        raise ApiError(BAD_REQUEST, "frame: must be a JSON object with 'action' and 'body'")
    action = frame.get("action")
    if not isinstance(action, str):
        raise ApiError(BAD_REQUEST, "action: missing or not a string")
    model = BODIES.get(action)
    if model is None:
        raise ApiError(BAD_REQUEST, f"action: unknown action {action[:40]!r}")
    return action, parse_body(model, frame.get("body"))


def frame(action: str, body: dict | None) -> str:
    """A frame as the node sends it: ``body`` is a string holding JSON (table A.1), absent if None."""
    out: dict[str, Any] = {"action": action}
    if body is not None:
        out["body"] = json.dumps(body, ensure_ascii=False)
    return json.dumps(out, ensure_ascii=False)
