"""Defensive readers for producer JSON: wrong types give None, never an exception."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any


def text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def integer(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decimal(data: Mapping[str, Any], key: str) -> Decimal | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def items(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(v for v in items(data, key) if isinstance(v, str))


def frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def timestamp(data: Mapping[str, Any], key: str) -> datetime | None:
    """ISO-8601 times in AWS's spellings (``Z``, ``+0000``, milliseconds)."""
    value = text(data, key)
    if value is None:
        return None
    candidate = value.strip().replace("Z", "+00:00")
    if len(candidate) > 5 and candidate[-5] in "+-" and candidate[-3] != ":":
        candidate = candidate[:-2] + ":" + candidate[-2:]
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
