"""Defensive readers for producer JSON: a wrong type or a bad value gives ``None``, never an
exception, because a payload we cannot read must still be delivered as a value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any

__all__ = [
    "EMPTY",
    "freeze",
    "get_bool",
    "get_decimal",
    "get_int",
    "get_items",
    "get_mapping",
    "get_strings",
    "get_text",
    "get_time",
    "load_json",
    "parse_time",
]

EMPTY: Mapping[str, Any] = MappingProxyType({})


def get_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def get_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    # bool is an int subclass; JSON true is not a count.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def get_bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


def get_decimal(data: Mapping[str, Any], key: str) -> Decimal | None:
    """A JSON number as an exact Decimal; ``None`` for NaN, infinities and non-numbers."""
    value = data.get(key)
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int):
            result = Decimal(value)
        elif isinstance(value, float):
            # repr() is the shortest text that round-trips: "5.0" stays "5.0", not 5.0000000001.
            result = Decimal(repr(value))
        elif isinstance(value, str):
            result = Decimal(value.strip())
        else:
            return None
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def get_mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else EMPTY


def get_items(data: Mapping[str, Any], key: str) -> tuple[Any, ...]:
    value = data.get(key)
    return tuple(value) if isinstance(value, list | tuple) else ()


def get_strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(v for v in get_items(data, key) if isinstance(v, str))


def freeze(value: Any) -> Any:
    """Deep read-only copy of decoded JSON: dicts become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def parse_time(value: str) -> datetime | None:
    """An AWS time as an aware UTC datetime, or ``None``.

    Producers disagree on the spelling: ISO-8601 with ``Z``, ``+0000`` or ``+03:00`` and 0-7
    fractional digits (CloudWatch, SES, S3), and RFC 2822 (``Sat, 04 Jun 2016 05:01:10 GMT``,
    AWS Health). A time without a zone is taken as UTC, which is what every producer means.
    """
    candidate = value.strip()
    if not candidate or len(candidate) > 64:
        return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError):
            return None
    try:
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def get_time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = get_text(data, key)
    return None if value is None else parse_time(value)


def load_json(raw: str, *, lenient: bool = False) -> object | None:
    """Decode ``raw`` as JSON; ``None`` if it is not JSON.

    ``lenient`` also accepts trailing commas before ``}``/``]``: AWS's own published Cost
    Anomaly Detection example has one, and code copied from it does too.
    """
    stripped = raw.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    if lenient:
        stripped = _drop_trailing_commas(stripped)
    try:
        loaded: object = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    # The parsers and freeze() recurse into what they read: a payload nested deeper than any
    # AWS producer's would end as a RecursionError (and a traceback in the log) there.
    return loaded if _nesting_within(loaded, MAX_JSON_DEPTH) else None


#: Far deeper than any AWS producer's payload (they nest a handful of levels).
MAX_JSON_DEPTH = 64


def _nesting_within(value: object, limit: int) -> bool:
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:  # iterative, so the check itself cannot overflow the stack
        current, depth = pending.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return False
        pending.extend((child, depth + 1) for child in children)
    return True


def _drop_trailing_commas(source: str) -> str:
    out: list[str] = []
    pending_comma: list[str] = []  # a comma and the whitespace after it, not yet written
    in_string = escaped = False
    for char in source:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if pending_comma:
            if char in " \t\r\n":
                pending_comma.append(char)
                continue
            if char in "}]":
                out.extend(pending_comma[1:])
            else:
                out.extend(pending_comma)
            pending_comma = []
        if char == ",":
            pending_comma = [char]
            continue
        if char == '"':
            in_string = True
        out.append(char)
    out.extend(pending_comma)
    return "".join(out)
