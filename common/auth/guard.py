"""Request guards: who is the user behind a request (bearer token or portal session) and may they."""

from __future__ import annotations

from flask import g, request
from flask_login import current_user

from common.auth.csrf import protect_cookie_call
from common.auth.permissions import role_allows
from common.auth.services import Principal, principal_of, user_for_token
from common.envelope import FORBIDDEN, UNAUTHORISED, ApiError


def request_user() -> Principal | None:
    """The signed-in user: ``Authorization: Bearer`` first, then the portal session cookie."""
    if "rpa_user" in g:
        return g.rpa_user
    user = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(header[7:].strip())
    elif current_user and current_user.is_authenticated:
        protect_cookie_call()  # the cookie is an ambient credential: a forged request would carry it
        user = principal_of(current_user._get_current_object())
    g.rpa_user = user
    return user


def require(permission: str) -> Principal:
    """The request's user if they hold ``permission``; else ApiError 401 or 403."""
    user = request_user()
    if user is None:
        raise ApiError(
            UNAUTHORISED, "Authorization: sign in or send a bearer token from /api/v1/auth/token", 401
        )
    if not role_allows(user.role, permission):
        raise ApiError(FORBIDDEN, f"permission: {permission} is required", 403)
    return user
