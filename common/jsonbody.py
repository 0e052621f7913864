"""JSON bodies that never answer 500: size checked before reading, nesting bounded, bad text named.

``request.get_json(silent=True)`` catches only ``ValueError``: a body nested 10,000 deep raised
``RecursionError`` through it (a 500 on every JSON endpoint, anonymous ones included).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request

from common.envelope import ApiError
from protocol.codes import BAD_REQUEST, TOO_LARGE

MAX_DEPTH = 32  # objects and arrays inside each other; no message of ours needs more than 5


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def loads(text: str | bytes, where: str = "body", *, max_depth: int | None = MAX_DEPTH) -> Any:
    """Parse JSON text; ApiError 10001 naming ``where`` when it is not JSON or nests too deeply
    (``max_depth=None``: only what the parser itself refuses, for hot paths whose models bound it)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ApiError(BAD_REQUEST, f"{where}: nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(BAD_REQUEST, f"{where}: not valid JSON") from None
    if max_depth is not None and depth(value) > max_depth:
        raise ApiError(BAD_REQUEST, f"{where}: nested deeper than {max_depth} levels")
    return value


def request_json(
    req: Request, limit: int, *, max_depth: int | None = MAX_DEPTH, too_large: int = TOO_LARGE
) -> Any | None:
    """The request's JSON body (None when it is empty); 413 with ``too_large`` over ``limit`` bytes,
    checked against Content-Length before anything is read and against the bytes while reading."""
    if req.content_length is not None and req.content_length > limit:
        raise ApiError(too_large, f"body: larger than {limit} bytes", 413)
    data = req.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(too_large, f"body: larger than {limit} bytes", 413)
    if not data.strip():
        return None
    return loads(data, max_depth=max_depth)
