"""One-line summaries of pydantic validation errors, for user-facing messages."""

from __future__ import annotations

from pydantic import ValidationError


def describe(error: ValidationError, limit: int = 3) -> str:
    """`field: problem; field: problem` for the first few errors."""
    parts = []
    for item in error.errors()[:limit]:
        loc = ".".join(str(p) for p in item["loc"]) or "value"
        parts.append(f"{loc}: {item['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
