"""Accounts over the API: bearer tokens for a username and password, and creating users."""

from __future__ import annotations

from typing import Literal

from flask import request
from pydantic import BaseModel, Field

from common.api.registry import api_blueprint, api_route
from common.api.schemas import In
from common.auth import services as auth
from common.auth.services import Principal
from common.auth.throttle import Throttled
from common.envelope import UNAUTHORISED, ApiError, envelope, error_envelope
from common.timeutil import iso
from protocol.codes import BAD_REQUEST, THROTTLED

bp = api_blueprint("auth_api", __name__)


class TokenRequest(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    token: str
    expiresAt: str


class UserCreate(In):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Literal["admin", "operator", "viewer", "auditor"] = "viewer"


@api_route(
    bp,
    "/auth/token",
    "POST",
    summary="Exchange username and password for a bearer token",
    permission=None,
    body=TokenRequest,
    response=TokenResponse,
    tag="auth",
)
def token(body: TokenRequest):
    try:
        user = auth.authenticate(body.username, body.password, request.remote_addr or "unknown")
    except Throttled as exc:
        resp = error_envelope(THROTTLED, f"username: {exc}", 429)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except auth.AuthError as exc:
        raise ApiError(UNAUTHORISED, f"username/password: {exc}", 401) from None
    value, expires = auth.issue_token(user)
    return envelope({"token": value, "expiresAt": iso(expires)})


@api_route(
    bp,
    "/users",
    "POST",
    summary="Create a user",
    permission="user.manage",
    body=UserCreate,
    tag="auth",
    status=201,
)
def create_user(body: UserCreate, user: Principal):
    try:
        created = auth.create_user(body.username, body.password, body.role, actor=f"user:{user.username}")
    except auth.AuthError as exc:
        raise ApiError(BAD_REQUEST, str(exc)) from None
    return envelope({"username": created.username, "role": created.role}, status=201)
