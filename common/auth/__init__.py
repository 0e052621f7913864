"""Accounts, API tokens, roles and permissions, request guards, CSRF: both tiers' authentication."""

from __future__ import annotations

from flask import Flask

from common.auth.services import TokenCache

KEY = "rpa.auth"


def init_app(app: Flask) -> None:
    """Give ``app`` its own bearer-token cache (see ``services.user_for_token``)."""
    app.extensions[KEY] = TokenCache()
