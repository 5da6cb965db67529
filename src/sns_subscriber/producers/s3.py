"""Amazon S3 event notifications."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from ._common import integer, items, mapping, text, timestamp

__all__ = ["S3Event", "S3Record", "parse_s3"]


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Record:
    event_name: str | None
    event_time: datetime | None
    region: str | None
    bucket: str | None
    key: str | None  # URL-decoded (S3 sends keys URL-encoded, spaces as '+')
    size: int | None
    etag: str | None
    version_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Event:
    producer: ClassVar[str] = "s3"

    records: tuple[S3Record, ...]
    test_event: bool
    raw: str


def _record(data: Mapping[str, Any]) -> S3Record:
    s3 = mapping(data, "s3")
    obj = mapping(s3, "object")
    key = text(obj, "key")
    return S3Record(
        event_name=text(data, "eventName"),
        event_time=timestamp(data, "eventTime"),
        region=text(data, "awsRegion"),
        bucket=text(mapping(s3, "bucket"), "name"),
        key=unquote_plus(key) if key is not None else None,
        size=integer(obj, "size"),
        etag=text(obj, "eTag"),
        version_id=text(obj, "versionId"),
    )


def parse_s3(data: Mapping[str, Any], raw: str) -> S3Event | None:
    if data.get("Event") == "s3:TestEvent":
        return S3Event(records=(), test_event=True, raw=raw)
    records = [r for r in items(data, "Records") if isinstance(r, dict) and r.get("eventSource") == "aws:s3"]
    if not records:
        return None
    return S3Event(records=tuple(_record(r) for r in records), test_event=False, raw=raw)
