"""Amazon SES notifications in both of SES's formats.

* The classic identity notifications: ``notificationType`` = Bounce / Complaint / Delivery
  (also ``Received`` for inbound mail, and ``AmazonSnsSubscriptionSucceeded``, the one-off
  message SES sends when a topic is attached, which has no ``mail``).
* Configuration-set event publishing: ``eventType`` = Bounce, Complaint, Delivery, Send,
  Reject, Open, Click, Rendering Failure, DeliveryDelay, Subscription.

Bounce, complaint and delivery get typed parts; every event's own object is also kept,
read-only, in ``SESEvent.details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final, Literal

from ._common import EMPTY, freeze, get_int, get_items, get_mapping, get_strings, get_text, get_time

__all__ = [
    "SESBounce",
    "SESBouncedRecipient",
    "SESComplaint",
    "SESDelivery",
    "SESEvent",
    "SESMail",
    "parse_ses",
]

SUBSCRIPTION_SUCCEEDED: Final = "AmazonSnsSubscriptionSucceeded"
# The event's own object is named after the type, except for these two.
_PART_NAMES: Final = {"Rendering Failure": "failure", "Received": "receipt"}


def _empty() -> Mapping[str, Any]:
    return EMPTY


@dataclass(frozen=True, slots=True, kw_only=True)
class SESMail:
    """The ``mail`` object: the message the event is about."""

    message_id: str | None = None
    source: str | None = None
    source_arn: str | None = None
    destination: tuple[str, ...] = ()
    timestamp: datetime | None = None
    #: ``commonHeaders.subject``; absent when SES was told not to include headers.
    subject: str | None = None
    sending_account_id: str | None = None
    common_headers: Mapping[str, Any] = field(default_factory=_empty)
    #: Event publishing's message tags (``ses:configuration-set`` ...), each a tuple of values.
    tags: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class SESBouncedRecipient:
    email: str
    #: The enhanced status code ("5.1.1").
    status: str | None
    action: str | None
    diagnostic: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SESBounce:
    bounce_type: str | None  # Permanent | Transient | Undetermined
    bounce_subtype: str | None
    recipients: tuple[SESBouncedRecipient, ...]
    feedback_id: str | None
    timestamp: datetime | None
    reporting_mta: str | None = None

    @property
    def permanent(self) -> bool:
        """Permanent bounces should stop further sending to those addresses."""
        return self.bounce_type == "Permanent"


@dataclass(frozen=True, slots=True, kw_only=True)
class SESComplaint:
    recipients: tuple[str, ...]
    #: The ARF feedback type ("abuse", "not-spam", ...), when the reporter gave one.
    feedback_type: str | None
    feedback_id: str | None
    timestamp: datetime | None
    complaint_subtype: str | None = None
    user_agent: str | None = None
    arrival_date: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SESDelivery:
    recipients: tuple[str, ...]
    smtp_response: str | None
    processing_time_ms: int | None
    timestamp: datetime | None
    reporting_mta: str | None = None
    remote_mta_ip: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SESEvent:
    """One SES notification or published event."""

    producer: ClassVar[str] = "ses"

    #: Bounce, Complaint, Delivery, Send, Reject, Open, Click, Rendering Failure, ...
    event_type: str
    format: Literal["notification", "event"]
    mail: SESMail
    bounce: SESBounce | None = None
    complaint: SESComplaint | None = None
    delivery: SESDelivery | None = None
    #: The event's own object, read-only (``open``, ``click``, ``failure``, ``bounce`` ...);
    #: for ``AmazonSnsSubscriptionSucceeded``, the whole message.
    details: Mapping[str, Any] = field(default_factory=_empty)
    raw: str


def _mail(data: Mapping[str, Any]) -> SESMail:
    common = get_mapping(data, "commonHeaders")
    return SESMail(
        message_id=get_text(data, "messageId"),
        source=get_text(data, "source"),
        source_arn=get_text(data, "sourceArn"),
        destination=get_strings(data, "destination"),
        timestamp=get_time(data, "timestamp"),
        subject=get_text(common, "subject"),
        sending_account_id=get_text(data, "sendingAccountId"),
        common_headers=freeze(common),
        tags=freeze(get_mapping(data, "tags")),
    )


def _emails(entries: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(
        e["emailAddress"]
        for e in entries
        if isinstance(e, Mapping) and isinstance(e.get("emailAddress"), str)
    )


def _bounce(part: Mapping[str, Any]) -> SESBounce:
    return SESBounce(
        bounce_type=get_text(part, "bounceType"),
        bounce_subtype=get_text(part, "bounceSubType"),
        recipients=tuple(
            SESBouncedRecipient(
                email=r["emailAddress"],
                status=get_text(r, "status"),
                action=get_text(r, "action"),
                diagnostic=get_text(r, "diagnosticCode"),
            )
            for r in get_items(part, "bouncedRecipients")
            if isinstance(r, Mapping) and isinstance(r.get("emailAddress"), str)
        ),
        feedback_id=get_text(part, "feedbackId"),
        timestamp=get_time(part, "timestamp"),
        reporting_mta=get_text(part, "reportingMTA"),
    )


def _complaint(part: Mapping[str, Any]) -> SESComplaint:
    return SESComplaint(
        recipients=_emails(get_items(part, "complainedRecipients")),
        feedback_type=get_text(part, "complaintFeedbackType"),
        feedback_id=get_text(part, "feedbackId"),
        timestamp=get_time(part, "timestamp"),
        complaint_subtype=get_text(part, "complaintSubType"),
        user_agent=get_text(part, "userAgent"),
        arrival_date=get_time(part, "arrivalDate"),
    )


def _delivery(part: Mapping[str, Any]) -> SESDelivery:
    return SESDelivery(
        recipients=get_strings(part, "recipients"),
        smtp_response=get_text(part, "smtpResponse"),
        processing_time_ms=get_int(part, "processingTimeMillis"),
        timestamp=get_time(part, "timestamp"),
        reporting_mta=get_text(part, "reportingMTA"),
        remote_mta_ip=get_text(part, "remoteMtaIp"),
    )


def parse_ses(data: Mapping[str, Any], raw: str) -> SESEvent | None:
    """The SES event in ``data``; ``None`` if ``data`` is not an SES notification."""
    kind = get_text(data, "notificationType")
    fmt: Literal["notification", "event"] = "notification"
    if kind is None:
        kind, fmt = get_text(data, "eventType"), "event"
    if kind is None:
        return None
    if kind == SUBSCRIPTION_SUCCEEDED and fmt == "notification":
        return SESEvent(event_type=kind, format=fmt, mail=SESMail(), details=freeze(data), raw=raw)
    mail = data.get("mail")
    if not isinstance(mail, Mapping):
        return None
    name = _PART_NAMES.get(kind) or kind[:1].lower() + kind[1:]
    part = get_mapping(data, name)
    return SESEvent(
        event_type=kind,
        format=fmt,
        mail=_mail(mail),
        bounce=_bounce(part) if kind == "Bounce" else None,
        complaint=_complaint(part) if kind == "Complaint" else None,
        delivery=_delivery(part) if kind == "Delivery" else None,
        details=freeze(part),
        raw=raw,
    )
