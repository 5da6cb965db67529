"""EventBridge events forwarded to SNS, with a convenience view for AWS Health."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ._common import frozen, items, mapping, strings, text, timestamp

__all__ = ["EventBridgeEvent", "HealthEvent", "parse_eventbridge"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthEvent:
    service: str | None
    event_type_code: str | None
    category: str | None
    status: str | None
    start_time: datetime | None
    end_time: datetime | None
    description: str | None
    affected_entities: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBridgeEvent:
    producer: ClassVar[str] = "eventbridge"

    id: str | None
    source: str
    detail_type: str
    account: str | None
    region: str | None
    time: datetime | None
    resources: tuple[str, ...]
    detail: Mapping[str, Any]
    raw: str

    @property
    def health(self) -> HealthEvent | None:
        """The AWS Health view of this event, when ``source`` is ``aws.health``."""
        if self.source != "aws.health":
            return None
        detail = self.detail
        descriptions = [d for d in items(detail, "eventDescription") if isinstance(d, dict)]
        entities = tuple(
            e["entityValue"]
            for e in items(detail, "affectedEntities")
            if isinstance(e, dict) and isinstance(e.get("entityValue"), str)
        )
        return HealthEvent(
            service=text(detail, "service"),
            event_type_code=text(detail, "eventTypeCode"),
            category=text(detail, "eventTypeCategory"),
            status=text(detail, "statusCode"),
            start_time=_health_time(detail, "startTime"),
            end_time=_health_time(detail, "endTime"),
            description=text(descriptions[0], "latestDescription") if descriptions else None,
            affected_entities=entities,
        )


def _health_time(detail: Mapping[str, Any], key: str) -> datetime | None:
    # Health writes "Fri, 18 Feb 2022 08:27:00 GMT" as well as ISO-8601.
    value = text(detail, key)
    if value is None:
        return None
    from email.utils import parsedate_to_datetime  # noqa: PLC0415

    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return timestamp(detail, key)


def parse_eventbridge(data: Mapping[str, Any], raw: str) -> EventBridgeEvent | None:
    source, detail_type = text(data, "source"), text(data, "detail-type")
    if source is None or detail_type is None:
        return None
    return EventBridgeEvent(
        id=text(data, "id"), source=source, detail_type=detail_type, account=text(data, "account"),
        region=text(data, "region"), time=timestamp(data, "time"), resources=strings(data, "resources"),
        detail=frozen(mapping(data, "detail")), raw=raw,
    )  # fmt: skip
