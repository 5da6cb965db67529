"""What AWS service sent a Notification, and what it says, as typed values.

:func:`detect` never raises: a payload no parser recognises is an :class:`UnknownPayload`
carrying the raw text (and its JSON, if it is JSON). Detection order, first match wins:

1. the Budgets "SNS Topic Verified!" test message (:class:`BudgetTopicVerified`);
2. a Budgets alert: plain text starting ``AWS Budget Notification`` (:class:`BudgetAlert`);
3. a JSON object, tried against each producer's own required keys, most specific first:
   CloudWatch (``AlarmName`` + ``NewStateValue``), SES (``notificationType``/``eventType`` +
   ``mail``), S3 (``Records[].eventSource == "aws:s3"`` or ``Event == "s3:TestEvent"``),
   Cost Anomaly Detection (``anomalyId`` + its impact/score/monitor keys), EventBridge
   (``source`` + ``detail-type``);
4. :class:`UnknownPayload`.

An endpoint that only ever receives one producer can force it with ``producer=`` (one of
:data:`PRODUCERS`); a payload that does not fit that producer, or an unknown name, gives
:class:`UnknownPayload`. Every model has a ``producer`` class attribute with its stable name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

from ..messages import Notification, RawNotification
from ._common import load_json
from .anomaly import AnomalyRootCause, CostAnomaly, parse_cost_anomaly
from .budgets import (
    BudgetAlert,
    BudgetTopicVerified,
    is_topic_verified_message,
    looks_like_budget_alert,
    parse_budget_alert,
)
from .cloudwatch import AlarmMetric, AlarmTrigger, CloudWatchAlarm, parse_cloudwatch_alarm
from .events import EventBridgeEvent, HealthEvent, parse_eventbridge
from .s3 import S3Event, S3Record, parse_s3
from .ses import SESBounce, SESBouncedRecipient, SESComplaint, SESDelivery, SESEvent, SESMail, parse_ses

__all__ = [
    "PRODUCERS",
    "AlarmMetric",
    "AlarmTrigger",
    "AnomalyRootCause",
    "BudgetAlert",
    "BudgetTopicVerified",
    "CloudWatchAlarm",
    "CostAnomaly",
    "EventBridgeEvent",
    "HealthEvent",
    "ProducerEvent",
    "S3Event",
    "S3Record",
    "SESBounce",
    "SESBouncedRecipient",
    "SESComplaint",
    "SESDelivery",
    "SESEvent",
    "SESMail",
    "UnknownPayload",
    "detect",
    "detect_text",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownPayload:
    """A payload no producer parser recognised: a value, not an error.

    ``json`` is the decoded Message when it is a valid JSON object or array, else ``None``.
    """

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

_JSONParser: TypeAlias = Callable[[Mapping[str, Any], str], ProducerEvent | None]
# Most specific first: EventBridge's two keys are the loosest test, so it comes last.
_JSON_PARSERS: Final[dict[str, _JSONParser]] = {
    "cloudwatch": parse_cloudwatch_alarm,
    "ses": parse_ses,
    "s3": parse_s3,
    "cost-anomaly": parse_cost_anomaly,
    "eventbridge": parse_eventbridge,
}
#: The names ``detect(producer=...)`` accepts.
PRODUCERS: Final = ("budgets", "cost-anomaly", "cloudwatch", "ses", "s3", "eventbridge")


def detect(notification: Notification | RawNotification, *, producer: str | None = None) -> ProducerEvent:
    """The typed payload of ``notification``; ``producer`` forces one parser by name."""
    message: object = notification.message
    subject: object = notification.subject
    return detect_text(
        message if isinstance(message, str) else "",
        subject if isinstance(subject, str) else None,
        producer=producer,
    )


def detect_text(text: str, subject: str | None = None, *, producer: str | None = None) -> ProducerEvent:
    """Like :func:`detect`, for a Message taken out of its envelope (e.g. from SQS)."""
    try:
        return _detect(text, subject, producer)
    except Exception:  # delivery must never fail on a payload; the log shows the parser bug
        logger.warning("producer detection failed; treating the payload as unknown", exc_info=True)
        return UnknownPayload(raw=text)


def _detect(text: str, subject: str | None, producer: str | None) -> ProducerEvent:
    if producer is None or producer == "budgets":
        if is_topic_verified_message(text, subject):
            return BudgetTopicVerified(raw=text, subject=subject)
        if looks_like_budget_alert(text):
            return parse_budget_alert(text)
        if producer == "budgets" and not text.lstrip().startswith(("{", "[")):
            # Forced: accept a changed header too, as long as the body reads like an alert.
            alert = parse_budget_alert(text)
            if alert.budget_name is not None and alert.alert_type is not None:
                return alert
    strict = load_json(text)
    data = strict if strict is not None else load_json(text, lenient=True)
    if isinstance(data, Mapping):
        if producer is None:
            candidates = list(_JSON_PARSERS.values())
        else:
            forced = _JSON_PARSERS.get(producer)
            candidates = [forced] if forced is not None else []
        for parse in candidates:
            event = _try(parse, data, text)
            if event is not None:
                return event
    return UnknownPayload(raw=text, json=strict)


def _try(parse: _JSONParser, data: Mapping[str, Any], text: str) -> ProducerEvent | None:
    try:
        return parse(data, text)
    except Exception:  # one parser's bug must not hide the payload from the others
        logger.warning("producer parser %s failed", getattr(parse, "__name__", parse), exc_info=True)
        return None
