"""Request and response models every API room shares (lists, pages)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class In(BaseModel):
    """Base of request bodies and queries: unknown fields are refused, text is stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(In):
    limit: int = Field(default=50, ge=1, le=1000, description="at most 1000")
    offset: int = Field(default=0, ge=0)


class ListOut(BaseModel):
    items: list[dict]
    total: int
