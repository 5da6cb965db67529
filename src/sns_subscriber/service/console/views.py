"""What the console shows, independent of HTML or JSON: strict parsing of filters and
cursors from the query string, and the values a listing, a message or a budget is shown as.

Every input is checked here before it reaches the store; a bad one raises
:class:`BadRequest`, which both front ends answer with 400.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import decimal
import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

from ...exceptions import SNSSubscriberError
from ...messages import Notification, RawNotification
from ...parsing import parse
from ...producers import BudgetAlert, ProducerEvent, detect
from ...stores.base import (
    ActionRecord,
    InboxRecord,
    InboxStatus,
    MessageFilter,
    MessageSummary,
    PageCursor,
    SubscriptionRecord,
    SubscriptionState,
)

__all__ = [
    "BadRequest",
    "MessageDetail",
    "build_filter",
    "decode_cursor",
    "describe_action",
    "encode_cursor",
    "message_detail",
    "subscriptions_view",
    "summary_json",
]

#: Producer names a filter may ask for: every model's ``producer`` name.
PRODUCER_NAMES: Final = (
    "budgets",
    "budgets-test",
    "cost-anomaly",
    "cloudwatch",
    "ses",
    "s3",
    "eventbridge",
    "unknown",
)
FILTER_KEYS: Final = ("status", "endpoint", "topic", "producer", "since", "until", "q")
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200
_MAX_TEXT: Final = 512
_MAX_CURSOR: Final = 120
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_UNSUBSCRIBE_KEYS: Final = ("UnsubscribeURL", "UnsubscribeUrl")
REDACTED: Final = "(redacted: visiting it would unsubscribe this endpoint)"


class BadRequest(ValueError):  # noqa: N818 - named after the answer it becomes
    """A query or body the console refuses (answered with 400)."""


def _text(params: Mapping[str, str], key: str, *, limit: int = _MAX_TEXT) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if len(value) > limit or _CONTROL.search(value):
        raise BadRequest(f"{key} must be at most {limit} printable characters")
    return value


def parse_time(value: str, key: str) -> datetime:
    """ISO 8601; without a zone (a browser's datetime-local field) it is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{key} must be an ISO 8601 time, e.g. 2026-12-01T08:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def build_filter(params: Mapping[str, str]) -> MessageFilter:
    """A :class:`MessageFilter` from ``status``, ``endpoint``, ``topic``, ``producer``,
    ``since``, ``until`` and ``q`` (text in the subject); empty values are ignored."""
    status = _text(params, "status")
    if status is not None and status not in InboxStatus.__members__.values():
        raise BadRequest(f"status must be one of {', '.join(InboxStatus)}")
    endpoint = _text(params, "endpoint")
    if endpoint is not None and not endpoint.startswith("/"):
        raise BadRequest("endpoint must be a path starting with /")
    producer = _text(params, "producer")
    if producer is not None and producer not in PRODUCER_NAMES:
        raise BadRequest(f"producer must be one of {', '.join(PRODUCER_NAMES)}")
    since = _text(params, "since", limit=40)
    until = _text(params, "until", limit=40)
    after = parse_time(since, "since") if since else None
    before = parse_time(until, "until") if until else None
    if after is not None and before is not None and after >= before:
        raise BadRequest("since must be earlier than until")
    return MessageFilter(
        status=InboxStatus(status) if status else None,
        endpoint=endpoint,
        topic_arn=_text(params, "topic"),
        producer=producer,
        received_after=after,
        received_before=before,
        subject_contains=_text(params, "q", limit=200),
    )


def filter_params(where: MessageFilter) -> dict[str, str]:
    """The query parameters that give ``where`` back (links, hidden form fields)."""
    values = {
        "status": where.status.value if where.status else None,
        "endpoint": where.endpoint,
        "topic": where.topic_arn,
        "producer": where.producer,
        "since": iso(where.received_after) if where.received_after else None,
        "until": iso(where.received_before) if where.received_before else None,
        "q": where.subject_contains,
    }
    return {key: value for key, value in values.items() if value}


def parse_limit(params: Mapping[str, str]) -> int:
    text = params.get("limit")
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def encode_cursor(cursor: PageCursor | None) -> str | None:
    if cursor is None:
        return None
    raw = f"{iso(cursor.received_at)}|{cursor.seq}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str | None) -> PageCursor | None:
    if text is None or text == "":
        return None
    bad = BadRequest("cursor is not one this console handed out")
    if len(text) > _MAX_CURSOR or not text.isascii():
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    when, _, seq = raw.partition("|")
    if not seq.isdigit() or len(seq) > 19:
        raise bad
    try:
        received_at = datetime.fromisoformat(when)
    except ValueError:
        raise bad from None
    if received_at.tzinfo is None:
        raise bad
    return PageCursor(received_at.astimezone(UTC), int(seq))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def summary_json(summary: MessageSummary) -> dict[str, Any]:
    return {
        "message_id": summary.message_id,
        "status": summary.status.value,
        "endpoint": summary.endpoint,
        "topic_arn": summary.topic_arn,
        "type": summary.message_type,
        "subject": summary.subject,
        "producer": summary.producer,
        "received_at": iso(summary.received_at),
        "updated_at": iso(summary.updated_at),
        "attempts": summary.attempts,
        "last_error": summary.last_error,
    }


# -- one message --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    done_at: datetime
    what: str


@dataclasses.dataclass(frozen=True, slots=True)
class MessageDetail:
    record: InboxRecord
    #: The signed envelope's fields (UnsubscribeURL redacted), in their order.
    envelope: list[tuple[str, str]]
    #: Sentences saying how the message was trusted before it was stored.
    verified: list[str]
    producer: str | None
    event_type: str | None
    #: The typed event's fields, flattened to (name, text).
    event_fields: list[tuple[str, str]]
    #: The Message: pretty-printed when it is JSON.
    message_text: str
    #: The whole stored body, pretty-printed, UnsubscribeURL redacted.
    body_text: str
    ledger: list[LedgerEntry]

    def as_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "message_id": record.message_id,
            "status": record.status.value,
            "endpoint": record.endpoint,
            "topic_arn": record.topic_arn,
            "type": record.message_type,
            "subject": record.subject,
            "producer": self.producer,
            "raw_delivery": record.raw_delivery,
            "received_at": iso(record.received_at),
            "updated_at": iso(record.updated_at),
            "next_attempt_at": iso(record.next_attempt_at) if record.next_attempt_at else None,
            "attempts": record.attempts,
            "last_error": record.last_error,
            "envelope": dict(self.envelope),
            "verified": self.verified,
            "event": {"type": self.event_type, "fields": dict(self.event_fields)}
            if self.event_type
            else None,
            "message": self.message_text,
            "body": self.body_text,
            "actions": [{"key": e.key, "done_at": iso(e.done_at), "what": e.what} for e in self.ledger],
        }


def redact_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Hide the UnsubscribeURL: whoever visits it removes the subscription."""
    return {key: (REDACTED if key in _UNSUBSCRIBE_KEYS else value) for key, value in fields.items()}


def describe_action(key: str) -> str:
    """A ledger key in words: ``handler:<route>`` or ``<route>:<step>``, where a route is
    ``<endpoint>:<action>`` and the budget e-mail's step is the recipient's address."""
    if key.startswith("handler:"):
        return f"handler {key[len('handler:') :]} succeeded"
    marker = ":budget-email:"
    if marker in key:
        return f"e-mailed {key.split(marker, 1)[1]}"
    return f"step {key} succeeded"


def recipient_of(key: str) -> str | None:
    marker = ":budget-email:"
    return key.split(marker, 1)[1] if marker in key else None


def _flatten(value: Any, prefix: str, out: list[tuple[str, str]], depth: int = 0) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and depth < 3:
        for field in dataclasses.fields(value):
            if field.name in ("raw", "json", "message"):
                continue  # shown whole, as the Message
            _flatten(getattr(value, field.name), f"{prefix}{field.name}", out, depth + 1)
            if len(out) > 60:
                return
        return
    if isinstance(value, (list, tuple)) and value and depth < 3:
        for index, item in enumerate(value[:10]):
            _flatten(item, f"{prefix}[{index}].", out, depth + 1)
        return
    name = prefix.rstrip(".")
    if value is None or (isinstance(value, list | tuple) and not value):
        return
    if isinstance(value, enum.Enum):
        text = str(value.value)
    elif isinstance(value, datetime):
        text = iso(value)
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, decimal.Decimal | int | float | str | bool):
        text = str(value)
    else:
        text = json.dumps(value, default=str)[:500]
    out.append((name, text))


def event_fields(event: ProducerEvent) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for field in dataclasses.fields(event):
        if field.name in ("raw", "json", "message"):
            continue
        _flatten(getattr(event, field.name), f"{field.name}.", out, 1)
    return out


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def message_detail(record: InboxRecord, actions: Sequence[ActionRecord]) -> MessageDetail:
    """Everything the detail page and ``GET /api/messages/{id}`` show about one message."""
    envelope: list[tuple[str, str]] = []
    verified: list[str] = []
    producer = event_type = None
    fields: list[tuple[str, str]] = []
    body_text = record.body.decode("utf-8", "replace")
    message_text = body_text
    if record.raw_delivery:
        verified.append(
            "Raw message delivery: no SNS signature exists; the request passed the endpoint's HTTP basic auth."
        )
    else:
        try:
            document = json.loads(body_text)
        except (ValueError, RecursionError):
            document = None
        if isinstance(document, dict):
            safe = redact_fields(document)
            body_text = json.dumps(safe, indent=2, ensure_ascii=False)
            envelope = [
                (str(key), value if isinstance(value, str) else json.dumps(value))
                for key, value in safe.items()
                if key not in ("Message", "Signature")
            ]
            message_text = _pretty(str(document.get("Message", "")))
            verified = _verified_sentences(document, record)
    if record.message_type == "Notification":
        event = _event_of(record)
        if event is not None:
            producer = event.producer
            event_type = type(event).__name__
            fields = event_fields(event)
    ledger = [LedgerEntry(a.action_key, a.done_at, describe_action(a.action_key)) for a in actions]
    return MessageDetail(
        record, envelope, verified, producer, event_type, fields, message_text, body_text, ledger
    )


def _event_of(record: InboxRecord) -> ProducerEvent | None:
    if record.raw_delivery:
        return detect(
            RawNotification(
                message_id=record.message_id,
                topic_arn=record.topic_arn,
                message=record.body.decode("utf-8", "replace"),
                raw=record.body,
            )
        )
    try:
        parsed = parse(record.body, max_bytes=max(len(record.body), 1))
    except SNSSubscriberError:
        return None
    return detect(parsed) if isinstance(parsed, Notification) else None


def _verified_sentences(document: Mapping[str, Any], record: InboxRecord) -> list[str]:
    version = str(document.get("SignatureVersion", ""))
    algorithm = {"1": "SHA1withRSA", "2": "SHA256withRSA"}.get(version, f"version {version}")
    cert_url = str(document.get("SigningCertURL", ""))
    host, _, name = cert_url.removeprefix("https://").partition("/")
    return [
        f"Signature ({algorithm}, SignatureVersion {version}) verified with the SNS certificate {name} from {host}.",
        f"Topic {record.topic_arn} is on the allow-list of endpoint {record.endpoint}.",
        f"Timestamp {document.get('Timestamp', '?')} was within the accepted age when the message "
        f"was received at {iso(record.received_at)}.",
        "MessageId not seen before: stored once, before SNS got its answer.",
    ]


# -- subscriptions ------------------------------------------------------------------------


def subscriptions_view(
    events: Iterable[SubscriptionRecord], state: SubscriptionState | None = None
) -> list[SubscriptionRecord]:
    """The latest event per (topic, endpoint), newest first; only ``state`` if given."""
    latest: dict[tuple[str, str], SubscriptionRecord] = {}
    for event in events:
        key = (event.topic_arn, event.endpoint)
        if key not in latest or event.id > latest[key].id:
            latest[key] = event
    current = sorted(latest.values(), key=lambda e: e.id, reverse=True)
    return [e for e in current if state is None or e.state == state]


def subscription_json(event: SubscriptionRecord) -> dict[str, Any]:
    # Token and SubscribeURL stay out: whoever has them can confirm the subscription.
    return {
        "id": event.id,
        "state": event.state.value,
        "topic_arn": event.topic_arn,
        "endpoint": event.endpoint,
        "subscription_arn": event.subscription_arn,
        "message_id": event.message_id,
        "detail": event.detail,
        "created_at": iso(event.created_at),
    }


def parse_subscription_state(value: str | None) -> SubscriptionState | None:
    if value is None or value == "":
        return None
    if value not in SubscriptionState.__members__.values():
        raise BadRequest(f"status must be one of {', '.join(SubscriptionState)}")
    return SubscriptionState(value)


# -- budgets ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetNotice:
    message_id: str
    received_at: datetime
    status: InboxStatus
    alert: BudgetAlert
    told: list[tuple[str, datetime]]


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetView:
    name: str
    account_id: str | None
    alerts: list[BudgetNotice]


def budgets_view(
    records: Sequence[InboxRecord], actions: Sequence[ActionRecord], *, per_budget: int = 10
) -> list[BudgetView]:
    """Recent alerts grouped per budget (most recent budget first), with who was e-mailed."""
    told: dict[str, list[tuple[str, datetime]]] = {}
    for action in actions:
        recipient = recipient_of(action.action_key)
        if recipient is not None:
            told.setdefault(action.message_id, []).append((recipient, action.done_at))
    budgets: dict[tuple[str, str | None], list[BudgetNotice]] = {}
    for record in records:
        event = _event_of(record)
        if not isinstance(event, BudgetAlert):
            continue
        key = (event.budget_name or "(unnamed budget)", event.account_id)
        notices = budgets.setdefault(key, [])
        if len(notices) < per_budget:
            notices.append(
                BudgetNotice(
                    record.message_id,
                    record.received_at,
                    record.status,
                    event,
                    told.get(record.message_id, []),
                )
            )
    return [BudgetView(name, account, notices) for (name, account), notices in budgets.items()]
