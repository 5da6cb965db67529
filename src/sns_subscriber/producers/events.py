"""EventBridge events forwarded to SNS, with a typed view of AWS Health events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

from ._common import freeze, get_items, get_mapping, get_strings, get_text, get_time

__all__ = ["HEALTH_SOURCE", "EventBridgeEvent", "HealthEvent", "parse_eventbridge"]

HEALTH_SOURCE: Final = "aws.health"


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthEvent:
    """The AWS Health parts of an ``aws.health`` event's ``detail``."""

    event_arn: str | None
    service: str | None
    event_type_code: str | None
    #: issue | accountNotification | scheduledChange | investigation
    category: str | None
    #: open | upcoming | closed; absent from many samples.
    status: str | None
    start_time: datetime | None
    end_time: datetime | None
    #: ``eventDescription[0].latestDescription``.
    description: str | None
    #: The ``entityValue`` of each affected entity (instance ids, ARNs ...).
    affected_entities: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBridgeEvent:
    """One EventBridge event; ``detail`` is the event's own, read-only, payload."""

    producer: ClassVar[str] = "eventbridge"

    id: str | None
    version: str | None
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
        if self.source != HEALTH_SOURCE:
            return None
        detail = self.detail
        descriptions = [d for d in get_items(detail, "eventDescription") if isinstance(d, Mapping)]
        return HealthEvent(
            event_arn=get_text(detail, "eventArn"),
            service=get_text(detail, "service"),
            event_type_code=get_text(detail, "eventTypeCode"),
            category=get_text(detail, "eventTypeCategory"),
            status=get_text(detail, "statusCode"),
            start_time=get_time(detail, "startTime"),
            end_time=get_time(detail, "endTime"),
            description=get_text(descriptions[0], "latestDescription") if descriptions else None,
            affected_entities=tuple(
                e["entityValue"]
                for e in get_items(detail, "affectedEntities")
                if isinstance(e, Mapping) and isinstance(e.get("entityValue"), str)
            ),
        )


def parse_eventbridge(data: Mapping[str, Any], raw: str) -> EventBridgeEvent | None:
    """The event in ``data``; ``None`` unless it has ``source`` and ``detail-type``."""
    source, detail_type = get_text(data, "source"), get_text(data, "detail-type")
    if source is None or detail_type is None:
        return None
    return EventBridgeEvent(
        id=get_text(data, "id"),
        version=get_text(data, "version"),
        source=source,
        detail_type=detail_type,
        account=get_text(data, "account"),
        region=get_text(data, "region"),
        time=get_time(data, "time"),
        resources=get_strings(data, "resources"),
        detail=freeze(get_mapping(data, "detail")),
        raw=raw,
    )
