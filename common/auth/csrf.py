"""CSRF protection (Flask-WTF), decided per route.

Portal forms are protected (the default). Routes whose callers authenticate with a header — robots
(robotId + robotConnectId, a supplier secret or a run token) and API clients (a bearer token) — are
exempt one by one (``exempt``): a browser never sends those headers by itself. An API route also
accepts the portal's session cookie, so a state-changing call that comes with the cookie and no
bearer token must carry the CSRF token (``X-CSRFToken`` header): ``protect_cookie_calls``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def exempt(view: Callable) -> Callable:
    """Exempt one view from the automatic check (a route authenticated by headers)."""
    return csrf.exempt(view)


def protect_cookie_calls() -> None:
    """Check the CSRF token of a state-changing request that carries the portal's session cookie
    and no bearer token (the guard would take the cookie as the caller's identity)."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return
    if not request.cookies.get(current_app.config.get("SESSION_COOKIE_NAME", "session")):
        return  # no ambient credential: nothing a forged request could borrow
    csrf.protect()
