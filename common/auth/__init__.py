"""Accounts, API tokens, roles and permissions, request guards, CSRF: both tiers' authentication."""

from __future__ import annotations

from flask import Flask

from common.auth import throttle
from common.auth.services import TokenCache

KEY = "rpa.auth"


def init_app(app: Flask, redis_url: str = "") -> None:
    """Give ``app`` its own bearer-token cache (``services.user_for_token``) and sign-in throttle
    (``throttle``: in Redis when the tier has one, so every process counts the same failures)."""
    app.extensions[KEY] = TokenCache()
    throttle.init_app(app, redis_url)
