"""What AWS service sent a Notification, and what it says, as typed values.

``detect(message)`` never raises: an unrecognised payload is an :class:`UnknownPayload`
carrying the raw text (and its JSON, if it is JSON). An endpoint may force one producer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from ..messages import Notification, RawNotification
from .anomaly import CostAnomaly, parse_cost_anomaly
from .budgets import (
    BudgetAlert,
    BudgetTopicVerified,
    is_topic_verified_message,
    looks_like_budget_alert,
    parse_budget_alert,
)
from .cloudwatch import CloudWatchAlarm, parse_cloudwatch_alarm
from .events import EventBridgeEvent, HealthEvent, parse_eventbridge
from .s3 import S3Event, parse_s3
from .ses import SESEvent, parse_ses

__all__ = [
    "PRODUCERS",
    "BudgetAlert",
    "BudgetTopicVerified",
    "CloudWatchAlarm",
    "CostAnomaly",
    "EventBridgeEvent",
    "HealthEvent",
    "ProducerEvent",
    "S3Event",
    "SESEvent",
    "UnknownPayload",
    "detect",
]


@dataclass(frozen=True, slots=True)
class UnknownPayload:
    """A payload no producer parser recognised: a value, not an error."""

    producer: ClassVar[str] = "unknown"

    raw: str
    json: object | None = None


ProducerEvent: TypeAlias = (
    BudgetAlert
    | BudgetTopicVerified
    | CostAnomaly
    | CloudWatchAlarm
    | SESEvent
    | S3Event
    | EventBridgeEvent
    | UnknownPayload
)

_JSONParser = Callable[[Mapping[str, Any], str], ProducerEvent | None]
_JSON_PARSERS: dict[str, _JSONParser] = {
    "cloudwatch": parse_cloudwatch_alarm,
    "ses": parse_ses,
    "s3": parse_s3,
    "cost-anomaly": parse_cost_anomaly,
    "eventbridge": parse_eventbridge,
}
#: Names accepted by ``detect(producer=...)`` and the ``producer`` endpoint setting.
PRODUCERS = ("budgets", *_JSON_PARSERS)


def _load_json(text: str) -> object | None:
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        loaded: object = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return loaded


def detect(message: Notification | RawNotification, *, producer: str | None = None) -> ProducerEvent:
    """The typed payload of ``message``; ``producer`` forces one parser by name."""
    text, subject = message.message, message.subject
    if producer in (None, "budgets"):
        if is_topic_verified_message(text, subject):
            return BudgetTopicVerified(text)
        if looks_like_budget_alert(text):
            return parse_budget_alert(text)
        if producer == "budgets":
            return UnknownPayload(text, _load_json(text))
    data = _load_json(text)
    if isinstance(data, dict):
        parsers = [_JSON_PARSERS[producer]] if producer in _JSON_PARSERS else list(_JSON_PARSERS.values())
        for parse in parsers:
            try:
                event = parse(data, text)
            except Exception:  # a parser bug must not fail delivery: fall through to Unknown
                event = None
            if event is not None:
                return event
    return UnknownPayload(text, data)
