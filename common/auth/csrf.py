"""CSRF protection (Flask-WTF), decided per route.

Portal forms are protected (the default). Routes whose callers authenticate with a header — robots
(robotId + robotConnectId, a supplier secret or a run token) and API clients (a bearer token) — are
exempt one by one (``exempt``): a browser never sends those headers by itself. An API route also
accepts the portal's session cookie; whenever the guard takes the caller from the cookie, a
state-changing request must carry the CSRF token (``X-CSRFToken`` header): ``protect_cookie_call``.
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


def protect_cookie_call() -> None:
    """The caller is being taken from the portal's session cookie: a state-changing request must
    carry the page's CSRF token (``X-CSRFToken`` or the form field), else CSRFError (400)."""
    if request.method in SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    csrf.protect()
