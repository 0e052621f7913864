"""Run arguments (Argument of appendix A.3.4): checked against the package manifest, secrets sealed."""

from __future__ import annotations

import json
from typing import Any

from common.crypto import SecretBox
from common.envelope import ApiError
from protocol.codes import BAD_REQUEST

MASK = "******"


def _check_value(name: str, typ: str, value: str) -> None:
    where = f"arguments.{name}"
    try:
        if typ == "int":
            int(value)
        elif typ == "float":
            float(value)
        elif typ == "bool":
            if value.lower() not in {"true", "false", "1", "0"}:
                raise ValueError
        elif typ == "json":
            json.loads(value)
    except ValueError:
        raise ApiError(BAD_REQUEST, f"{where}: {value[:40]!r} is not a valid {typ}") from None


def normalise(given: list[dict] | dict[str, Any] | None, declared: list[dict], box: SecretBox) -> list[dict]:
    """Validate ``given`` against the manifest's ``declared`` arguments; fill defaults; seal secrets.

    ``given`` is a list of ``{name, type?, value}`` or a ``{name: value}`` mapping. Values travel as
    strings (the standard's Argument.value is a String).
    """
    by_name = {d["name"]: d for d in declared}
    if isinstance(given, dict):
        given = [{"name": k, "value": v} for k, v in given.items()]
    seen: dict[str, dict] = {}
    for i, item in enumerate(given or []):
        name = item.get("name")
        if name not in by_name:
            raise ApiError(BAD_REQUEST, f"arguments[{i}].name: {name!r} is not declared by the package")
        if name in seen:
            raise ApiError(BAD_REQUEST, f"arguments[{i}].name: {name!r} given twice")
        typ = by_name[name]["type"]
        if item.get("type") not in (None, typ):
            raise ApiError(BAD_REQUEST, f"arguments[{i}].type: the package declares {name!r} as {typ}")
        value = item.get("value")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        elif isinstance(value, dict | list) and typ == "json":
            value = json.dumps(value, ensure_ascii=False)
        if not isinstance(value, str):
            raise ApiError(BAD_REQUEST, f"arguments[{i}].value: must be a string")
        _check_value(name, typ, value)
        seen[name] = {"name": name, "type": typ, "value": value}
    out = []
    for decl in declared:
        arg = seen.get(decl["name"])
        if arg is None:
            if decl.get("default") is not None:
                arg = {"name": decl["name"], "type": decl["type"], "value": decl["default"]}
            elif decl.get("required"):
                raise ApiError(BAD_REQUEST, f"arguments.{decl['name']}: required by the package")
            else:
                continue
        if arg["type"] == "secret":
            arg = {**arg, "value": box.seal(arg["value"]), "sealed": True}
        out.append(arg)
    return out


def for_executor(stored: list[dict], box: SecretBox) -> list[dict]:
    """Arguments as sent in Execute: the only place a secret is shown in clear."""
    return [
        {
            "name": a["name"],
            "type": a["type"],
            "value": box.open(a["value"]) if a.get("sealed") else a["value"],
        }
        for a in stored
    ]


def for_display(stored: list[dict]) -> list[dict]:
    """Arguments as shown by the API and the portal: secrets masked."""
    return [
        {"name": a["name"], "type": a["type"], "value": MASK if a.get("sealed") else a["value"]}
        for a in stored
    ]
