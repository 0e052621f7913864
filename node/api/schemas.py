"""Request and response models of the management API (they also generate the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(_In):
    limit: int = Field(default=50, ge=1, le=1000, description="at most 1000")
    offset: int = Field(default=0, ge=0)


class RunPage(Page):
    status: str | None = Field(default=None, max_length=16)


class TokenRequest(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    token: str
    expiresAt: str


class SupplierCreate(_In):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(default="", max_length=128)
    engines: list[str] | None = Field(default=None, max_length=20)


class SupplierCreated(BaseModel):
    code: str
    secret: str = Field(description="shown once; store it in the executor's settings")


class SupplierOut(BaseModel):
    code: str
    name: str
    engines: list[str]
    enabled: bool


class RobotOut(BaseModel):
    robotId: str
    supplierCode: str
    state: str
    online: bool
    transport: str
    version: str
    lastSeenAt: str | None
    runInstanceId: str | None
    metrics: dict | None = None


class RobotStateChange(_In):
    state: Literal["enabled", "disabled"]


class LicenseCreate(_In):
    name: str = Field(default="license", max_length=128)
    content: str = Field(min_length=1, max_length=64 * 1024)
    robotId: str | None = Field(default=None, max_length=64)


class LicenseBind(_In):
    robotId: str = Field(min_length=1, max_length=64)


class LicenseOut(BaseModel):
    licenseId: int
    name: str
    robotId: str | None


class AppCreated(BaseModel):
    appId: str
    version: str
    sha256: str


class AppVersionOut(BaseModel):
    version: str
    engine: str
    entry: str
    sha256: str
    arguments: list[dict]
    createdAt: str


class AppOut(BaseModel):
    appId: str
    name: str
    description: str
    category: str
    businessDomain: str
    scenario: str
    tags: list[str]
    versions: list[AppVersionOut]


class ArgumentIn(_In):
    name: str = Field(min_length=1, max_length=64)
    type: str | None = Field(default=None, max_length=16)
    value: Any


class RunCreate(_In):
    appId: str = Field(min_length=1, max_length=40)
    version: str | None = Field(default=None, max_length=32)
    arguments: list[ArgumentIn] | dict[str, Any] | None = None
    robotId: str | None = Field(default=None, max_length=64)
    videoRecordRequired: bool = False
    videoRecordMode: Literal[0, 1, 2] = 0
    timeoutSeconds: int = Field(default=0, ge=0, le=7 * 86400)
    failover: bool = Field(default=False, description="re-queue on another robot if the executor is lost")
    maxAttempts: int = Field(default=3, ge=1, le=10, description="attempts in all when failover is on")


class RunCreated(BaseModel):
    runInstanceId: str
    status: str


class RunOut(BaseModel):
    runInstanceId: str
    appId: str
    status: str
    robotId: str | None
    attempt: int
    arguments: list[dict]
    createdAt: str | None
    dispatchedAt: str | None
    startedAt: str | None
    finishedAt: str | None
    errorCode: int | None
    cause: str
    videoId: str | None
    checkpointId: str | None
    userName: str


class TransitionOut(BaseModel):
    fromStatus: str
    toStatus: str
    attempt: int
    cause: str
    at: str


class LogOut(BaseModel):
    content: str
    screenshot: str | None
    logAt: str
    logLevel: int
    attempt: int
    robotId: str


class ListOut(BaseModel):
    items: list[dict]
    total: int


class UserCreate(_In):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Literal["admin", "operator", "viewer", "auditor"] = "viewer"
