"""EventBridge events forwarded to SNS, with a typed view of AWS Health events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

from ._common import freeze, items, mapping, strings, text
from ._common import time as read_time  # this module's models have a field named time

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
        descriptions = [d for d in items(detail, "eventDescription") if isinstance(d, Mapping)]
        return HealthEvent(
            event_arn=text(detail, "eventArn"),
            service=text(detail, "service"),
            event_type_code=text(detail, "eventTypeCode"),
            category=text(detail, "eventTypeCategory"),
            status=text(detail, "statusCode"),
            start_time=read_time(detail, "startTime"),
            end_time=read_time(detail, "endTime"),
            description=text(descriptions[0], "latestDescription") if descriptions else None,
            affected_entities=tuple(
                e["entityValue"]
                for e in items(detail, "affectedEntities")
                if isinstance(e, Mapping) and isinstance(e.get("entityValue"), str)
            ),
        )


def parse_eventbridge(data: Mapping[str, Any], raw: str) -> EventBridgeEvent | None:
    """The event in ``data``; ``None`` unless it has ``source`` and ``detail-type``."""
    source, detail_type = text(data, "source"), text(data, "detail-type")
    if source is None or detail_type is None:
        return None
    return EventBridgeEvent(
        id=text(data, "id"),
        version=text(data, "version"),
        source=source,
        detail_type=detail_type,
        account=text(data, "account"),
        region=text(data, "region"),
        time=read_time(data, "time"),
        resources=strings(data, "resources"),
        detail=freeze(mapping(data, "detail")),
        raw=raw,
    )
