"""Error answers per blueprint: the envelope for API and protocol blueprints, a page for portal ones.

A blueprint says what it speaks (``json_errors(bp)`` / ``html_errors(bp)``); errors raised outside
any blueprint's view (an unknown URL, a method not allowed) fall back by path prefix
(``register_fallbacks``). A 500 never shows a traceback and always rolls the session back.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from common.envelope import CONFLICT, FORBIDDEN, NOT_FOUND, UNAUTHORISED, ApiError, error_envelope
from protocol.codes import BAD_REQUEST, TOO_LARGE, UNKNOWN_ERROR

log = logging.getLogger(__name__)

# HTTP status of an error raised by Flask or werkzeug → the envelope's error code.
HTTP_CODES = {
    401: UNAUTHORISED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: BAD_REQUEST,
    409: CONFLICT,
    413: TOO_LARGE,
}


def _rollback() -> None:
    from common.db import db

    db.session.rollback()


def _json_http(exc: HTTPException):
    status = exc.code or 400
    if isinstance(exc, CSRFError):  # a cookie-authenticated write without the page's token
        return error_envelope(BAD_REQUEST, f"X-CSRFToken: {exc.description}", status)
    return error_envelope(HTTP_CODES.get(status, BAD_REQUEST), f"{request.path}: {exc.name.lower()}", status)


def _json_unexpected(exc: Exception):
    _rollback()
    log.exception("Unhandled error on %s %s", request.method, request.path)
    return error_envelope(UNKNOWN_ERROR, "internal error; nothing was changed", 500)


def _api_error(exc: ApiError):
    return error_envelope(exc.code, exc.hint, exc.status)


def json_errors(bp: Blueprint) -> Blueprint:
    """Every error of ``bp``'s views answers the envelope (error code and a hint naming the field)."""
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(HTTPException, _json_http)
    bp.register_error_handler(Exception, _json_unexpected)
    return bp


def _html_http(exc: HTTPException):
    return render_template("error.html", status=exc.code, name=exc.name), exc.code or 400


def _html_api_error(exc: ApiError):
    return render_template("error.html", status=exc.status, name=exc.hint), exc.status


def _html_unexpected(exc: Exception):
    _rollback()
    log.exception("Unhandled error on %s %s", request.method, request.path)
    return render_template("error.html", status=500, name="Internal Server Error"), 500


def html_errors(bp: Blueprint) -> Blueprint:
    """Every error of ``bp``'s views answers a page (``error.html``), never a traceback."""
    bp.register_error_handler(ApiError, _html_api_error)
    bp.register_error_handler(HTTPException, _html_http)
    bp.register_error_handler(Exception, _html_unexpected)
    return bp


def register_fallbacks(app: Flask, json_prefixes: tuple[str, ...]) -> None:
    """Errors outside any blueprint's view: the envelope under ``json_prefixes`` (or when the client
    asks for JSON), a page elsewhere."""

    def wants_json() -> bool:
        return request.path.startswith(json_prefixes) or request.accept_mimetypes.best == "application/json"

    @app.errorhandler(ApiError)
    def _api(exc: ApiError):
        return _api_error(exc) if wants_json() else _html_api_error(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _json_http(exc) if wants_json() else _html_http(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        return _json_unexpected(exc) if wants_json() else _html_unexpected(exc)
