"""Amazon SES notifications: the classic format (``notificationType``) and event
publishing (``eventType``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ._common import frozen, integer, items, mapping, strings, text, timestamp

__all__ = [
    "SESBounce",
    "SESBouncedRecipient",
    "SESComplaint",
    "SESDelivery",
    "SESEvent",
    "SESMail",
    "parse_ses",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SESMail:
    message_id: str | None
    source: str | None
    destination: tuple[str, ...]
    timestamp: datetime | None
    subject: str | None
    sending_account_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SESBouncedRecipient:
    email: str
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

    @property
    def permanent(self) -> bool:
        """Permanent bounces should stop further sending to those addresses."""
        return self.bounce_type == "Permanent"


@dataclass(frozen=True, slots=True, kw_only=True)
class SESComplaint:
    recipients: tuple[str, ...]
    feedback_type: str | None
    feedback_id: str | None
    timestamp: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SESDelivery:
    recipients: tuple[str, ...]
    smtp_response: str | None
    processing_time_ms: int | None
    timestamp: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SESEvent:
    producer: ClassVar[str] = "ses"

    event_type: str  # Bounce, Complaint, Delivery, Send, Reject, Open, Click, ...
    format: str  # "notification" or "event"
    mail: SESMail
    bounce: SESBounce | None = None
    complaint: SESComplaint | None = None
    delivery: SESDelivery | None = None
    #: The event's own object for the other types (send, reject, open, click, ...).
    details: Mapping[str, Any]
    raw: str


def _mail(data: Mapping[str, Any]) -> SESMail:
    common = mapping(data, "commonHeaders")
    return SESMail(
        message_id=text(data, "messageId"),
        source=text(data, "source"),
        destination=strings(data, "destination"),
        timestamp=timestamp(data, "timestamp"),
        subject=text(common, "subject"),
        sending_account_id=text(data, "sendingAccountId"),
    )


def _emails(entries: list[Any]) -> tuple[str, ...]:
    return tuple(
        e["emailAddress"] for e in entries if isinstance(e, dict) and isinstance(e.get("emailAddress"), str)
    )


def parse_ses(data: Mapping[str, Any], raw: str) -> SESEvent | None:
    kind, fmt = text(data, "notificationType"), "notification"
    if kind is None:
        kind, fmt = text(data, "eventType"), "event"
    if kind is None or not isinstance(data.get("mail"), dict):
        return None
    part_name = kind[0].lower() + kind[1:].replace(" ", "")
    part = mapping(data, part_name)
    bounce = complaint = delivery = None
    if kind == "Bounce":
        bounce = SESBounce(
            bounce_type=text(part, "bounceType"),
            bounce_subtype=text(part, "bounceSubType"),
            recipients=tuple(
                SESBouncedRecipient(
                    email=r["emailAddress"],
                    status=text(r, "status"),
                    action=text(r, "action"),
                    diagnostic=text(r, "diagnosticCode"),
                )
                for r in items(part, "bouncedRecipients")
                if isinstance(r, dict) and isinstance(r.get("emailAddress"), str)
            ),
            feedback_id=text(part, "feedbackId"),
            timestamp=timestamp(part, "timestamp"),
        )
    elif kind == "Complaint":
        complaint = SESComplaint(
            recipients=_emails(items(part, "complainedRecipients")),
            feedback_type=text(part, "complaintFeedbackType"),
            feedback_id=text(part, "feedbackId"),
            timestamp=timestamp(part, "timestamp"),
        )
    elif kind == "Delivery":
        delivery = SESDelivery(
            recipients=strings(part, "recipients"),
            smtp_response=text(part, "smtpResponse"),
            processing_time_ms=integer(part, "processingTimeMillis"),
            timestamp=timestamp(part, "timestamp"),
        )
    return SESEvent(
        event_type=kind,
        format=fmt,
        mail=_mail(mapping(data, "mail")),
        bounce=bounce,
        complaint=complaint,
        delivery=delivery,
        details=frozen(part),
        raw=raw,
    )
