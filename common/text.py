"""Text the node stores: no NUL or other control characters (tab, newline and carriage return
excepted), refused the same way on SQLite and PostgreSQL (whose text columns cannot hold NUL)."""

from __future__ import annotations

import re
from typing import Any

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: Any) -> Any:
    """``value`` unchanged if no string in it (nested in lists and objects too) holds a control
    character; else ValueError saying which character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = CONTROL.search(item)
            if found:
                raise ValueError(f"control character {found.group()!r} is not allowed")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return value
