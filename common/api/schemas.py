"""Request and response models every API room shares (lists, pages)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.text import check_text


class In(BaseModel):
    """Base of request bodies and queries: unknown fields are refused, text is stripped, and no
    text holds a control character (NUL included: PostgreSQL cannot store it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return check_text(value)


# The largest integer every database of ours stores (PostgreSQL INTEGER); larger ones are refused
# naming the field instead of overflowing in the driver.
MAX_INT = 2**31 - 1


class Page(In):
    limit: int = Field(default=50, ge=1, le=1000, description="at most 1000")
    offset: int = Field(default=0, ge=0, le=MAX_INT)


class ListOut(BaseModel):
    items: list[dict]
    total: int
