"""Typed API routes: one decorator validates the body with a pydantic model, checks a permission,
and records the route so ``/api/v1/openapi.json`` is generated from the very same models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError

from common.auth.csrf import exempt
from common.auth.guard import require
from common.envelope import ApiError, from_validation_error
from common.errors import json_errors
from common.jsonbody import request_json
from protocol.codes import BAD_REQUEST

MAX_JSON_BODY = 1024 * 1024  # bytes of a JSON request body (uploads are multipart, with their own limits)


@dataclass
class RouteDoc:
    path: str
    method: str
    summary: str
    permission: str | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    query: type[BaseModel] | None
    multipart: dict[str, str] | None
    tag: str
    status: int = 200


def api_blueprint(name: str, import_name: str, url_prefix: str = "/api/v1") -> Blueprint:
    """A blueprint for API routes: its routes are recorded on it (``bp.api_routes``) for the
    OpenAPI document, so two apps in one process never mix their documents."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    bp.api_routes = []  # type: ignore[attr-defined]
    return json_errors(bp)


def api_route(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    permission: str | None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    multipart: dict[str, str] | None = None,
    tag: str = "api",
    status: int = 200,
):
    """Register ``fn(**path_args, body=?, query=?, user=?)`` as an API endpoint."""

    def deco(fn):
        @wraps(fn)
        def view(**kwargs: Any):
            user = require(permission) if permission else None
            if body is not None:
                data = request_json(request, MAX_JSON_BODY)
                if not isinstance(data, dict):
                    raise ApiError(BAD_REQUEST, "body: a JSON object is required")
                try:
                    kwargs["body"] = body.model_validate(data)
                except ValidationError as exc:
                    raise from_validation_error(exc) from None
            if query is not None:
                try:
                    kwargs["query"] = query.model_validate(request.args.to_dict())
                except ValidationError as exc:
                    raise from_validation_error(exc) from None
            if permission:
                kwargs["user"] = user
            return fn(**kwargs)

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=exempt(view), methods=[method])
        bp.api_routes.append(  # type: ignore[attr-defined]
            RouteDoc(
                (bp.url_prefix or "") + rule,
                method.lower(),
                summary,
                permission,
                body,
                response,
                query,
                multipart,
                tag,
                status,
            )
        )
        return view

    return deco


def _ref(model: type[BaseModel], components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_schema(converter: str) -> dict:
    """The schema of a path parameter from its werkzeug converter (``int(max=N)`` → a bounded integer)."""
    if converter.startswith("int"):
        bound = re.search(r"max=(\d+)", converter)
        return {"type": "integer", "minimum": 0, **({"maximum": int(bound.group(1))} if bound else {})}
    return {"type": "string"}


def openapi(title: str, version: str, blueprints: list[Blueprint]) -> dict:
    """The OpenAPI 3.1 document of the routes of ``blueprints`` (made with ``api_blueprint``)."""
    components: dict[str, Any] = {}
    paths: dict[str, dict] = {}
    envelope_props = {"successful": {"type": "boolean"}, "resultHint": {"type": "string"}}
    for r in [route for bp in blueprints for route in bp.api_routes]:  # type: ignore[attr-defined]
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", r.path)
        op: dict[str, Any] = {"summary": r.summary, "tags": [r.tag], "responses": {}}
        params = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(converter)}
            for converter, name in re.findall(r"<(?:([^:>]+):)?(\w+)>", r.path)
        ]
        if r.query is not None:
            properties = r.query.model_json_schema()["properties"]
            for name, field in r.query.model_fields.items():
                schema = {k: v for k, v in properties[name].items() if k not in ("title", "description")}
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": field.is_required(),
                        "schema": schema,
                        "description": field.description or "",
                    }
                )
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(r.body, components)}},
            }
        if r.multipart:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                k: (
                                    {"type": "string", "format": "binary"}
                                    if v == "file"
                                    else {"type": "string"}
                                )
                                for k, v in r.multipart.items()
                            },
                        }
                    }
                },
            }
        value = _ref(r.response, components) if r.response is not None else {}
        op["responses"][str(r.status)] = {
            "description": "envelope with resultValue",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {**envelope_props, "resultValue": value}}
                }
            },
        }
        op["responses"]["400"] = {
            "description": "bad input: resultValue.errorCode 10001, resultHint names the field"
        }
        if r.permission:
            op["security"] = [{"bearer": []}]
            op["description"] = f"Permission: `{r.permission}`."
            op["responses"]["401"] = {"description": "not signed in"}
            op["responses"]["403"] = {"description": "permission missing"}
        paths.setdefault(path, {})[r.method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
