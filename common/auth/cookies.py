"""The portal's session cookie, opened only for requests that carry one.

Flask's cookie session builds its signing serializer (a key derivation) on every request, cookie
or not. Executors and API clients never send the cookie, and they are most of the node's requests
(the dispatch hot path): for them the session is a fresh empty one, exactly what Flask would give
them, without the serializer.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class PortalSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session; an empty session without work when no cookie is sent."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
