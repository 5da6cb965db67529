"""Amazon S3 event notifications delivered through SNS (JSON), and S3's test event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from ._common import get_int, get_items, get_mapping, get_text, get_time

__all__ = ["S3Event", "S3Record", "parse_s3"]


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Record:
    """One object event."""

    event_name: str | None
    event_time: datetime | None
    region: str | None
    bucket: str | None
    #: URL-decoded: S3 sends keys URL-encoded, with "+" for spaces.
    key: str | None
    size: int | None
    etag: str | None
    version_id: str | None
    sequencer: str | None = None
    configuration_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Event:
    """The records of one S3 notification. ``test_event`` marks the ``s3:TestEvent`` S3 sends
    when a notification is configured: no records, only its bucket and time."""

    producer: ClassVar[str] = "s3"

    records: tuple[S3Record, ...]
    test_event: bool = False
    test_bucket: str | None = None
    test_time: datetime | None = None
    raw: str


def _record(data: Mapping[str, Any]) -> S3Record:
    s3 = get_mapping(data, "s3")
    obj = get_mapping(s3, "object")
    key = get_text(obj, "key")
    return S3Record(
        event_name=get_text(data, "eventName"),
        event_time=get_time(data, "eventTime"),
        region=get_text(data, "awsRegion"),
        bucket=get_text(get_mapping(s3, "bucket"), "name"),
        key=unquote_plus(key) if key is not None else None,
        size=get_int(obj, "size"),
        etag=get_text(obj, "eTag"),
        version_id=get_text(obj, "versionId"),
        sequencer=get_text(obj, "sequencer"),
        configuration_id=get_text(s3, "configurationId"),
    )


def parse_s3(data: Mapping[str, Any], raw: str) -> S3Event | None:
    """The S3 event in ``data``; ``None`` if no record comes from ``aws:s3``."""
    if data.get("Event") == "s3:TestEvent":
        return S3Event(
            records=(),
            test_event=True,
            test_bucket=get_text(data, "Bucket"),
            test_time=get_time(data, "Time"),
            raw=raw,
        )
    records = [
        r for r in get_items(data, "Records") if isinstance(r, Mapping) and r.get("eventSource") == "aws:s3"
    ]
    if not records:
        return None
    return S3Event(records=tuple(_record(r) for r in records), raw=raw)
