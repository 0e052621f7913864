"""``/api/v1``: each room's API blueprint, assembled, with the OpenAPI document of them all."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify

from common.api.registry import openapi
from common.auth.api import bp as auth_api
from common.errors import json_errors
from node.design.api import bp as design_api
from node.robots.api import bp as robots_api
from node.runs.api import bp as runs_api
from node.share.api import bp as share_api

ROOMS: tuple[Blueprint, ...] = (auth_api, robots_api, share_api, runs_api, design_api)

docs = json_errors(Blueprint("api", __name__, url_prefix="/api/v1"))


@docs.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 document of every ``/api/v1`` route."""
    return jsonify(
        openapi(
            "RPA province node management API", current_app.config.get("RPA_VERSION", "0.1.0"), list(ROOMS)
        )
    )


def init_app(app: Flask) -> None:
    """Register every API blueprint (each answers errors with the envelope)."""
    for bp in (*ROOMS, docs):
        app.register_blueprint(bp)
