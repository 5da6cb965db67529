"""Frozen values for the three SNS message types (and raw deliveries).

Field values are kept exactly as received (strings, never re-rendered): the signature covers
those exact strings, and re-rendering a timestamp is how other validators broke.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, TypeVar

__all__ = [
    "EMPTY_ATTRIBUTES",
    "Message",
    "MessageAttribute",
    "Notification",
    "RawNotification",
    "SNSMessage",
    "SubscriptionConfirmation",
    "TopicArn",
    "UnsubscribeConfirmation",
    "parse_timestamp",
]

MessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sns:(?P<region>[a-z]{2,}(?:-[a-z0-9]+)+-\d+):"
    r"(?P<account>\d{12}):(?P<name>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)$",
    re.ASCII,  # \d is 0-9 only, not every script's digits
)
_TIMESTAMP = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?(?P<zone>Z|[+-]\d{2}:\d{2})$",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class TopicArn:
    """The parts of an SNS topic ARN: ``arn:<partition>:sns:<region>:<account>:<name>``."""

    partition: str
    region: str
    account: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> TopicArn | None:
        """Split ``arn``; ``None`` if it is not an SNS topic ARN."""
        return _parse_arn(arn)


#: Longer than any real topic ARN (a 256-character name in the longest partition and region).
MAX_TOPIC_ARN_LENGTH: Final = 400
_MAX_CACHED_ARNS: Final = 512
# Valid ARNs only, at most 400 characters each: a stranger's junk TopicArn (up to the whole
# body) must not be kept alive by a cache. An endpoint sees a handful of topics over and over.
_ARN_CACHE: dict[str, TopicArn] = {}
_ARN_CACHE_LOCK: Final = threading.Lock()


def _parse_arn(arn: str) -> TopicArn | None:
    topic = _ARN_CACHE.get(arn)
    if topic is not None:
        return topic
    if len(arn) > MAX_TOPIC_ARN_LENGTH:
        return None
    match = _ARN.fullmatch(arn)
    if match is None:
        return None
    topic = TopicArn(match["partition"], match["region"], match["account"], match["name"])
    with _ARN_CACHE_LOCK:
        if len(_ARN_CACHE) >= _MAX_CACHED_ARNS:
            # Only a flood of distinct valid-looking ARNs fills it: start over, stay bounded.
            _ARN_CACHE.clear()
        _ARN_CACHE[arn] = topic
    return topic


def parse_timestamp(value: str) -> datetime | None:
    """Parse an SNS ISO-8601 timestamp (``2026-03-06T19:53:21.424Z``); ``None`` if invalid.

    The result is in UTC. A time with an offset is accepted too (SNS always sends ``Z``)."""
    if len(value) == 24 and value[19] == "." and value[23] == "Z" and value.isascii():
        # The one format SNS sends (milliseconds, "Z"): no rewriting needed.
        try:
            return datetime.fromisoformat(value) if _TIMESTAMP.fullmatch(value) else None
        except ValueError:
            return None
    match = _TIMESTAMP.fullmatch(value) if len(value) <= 40 else None
    if match is None:
        return None
    fraction = match["fraction"]
    # fromisoformat in 3.11 takes 1-6 fractional digits (3 or 6 before 3.11): trim nanoseconds.
    text = match["base"] + (f".{fraction[:6].ljust(3, '0')}" if fraction else "") + match["zone"]
    try:
        # In UTC, so that comparing with "now" can never overflow (year 1 at +01:00 would).
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class MessageAttribute:
    """One entry of ``MessageAttributes``. Not signed: never base a security decision on it."""

    type: str
    value: str


EMPTY_ATTRIBUTES: MappingProxyType[str, MessageAttribute] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Fields common to every signed SNS message."""

    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    signature_version: str
    signature: str
    signing_cert_url: str
    #: The exact request body, kept for storage and replay.
    raw: bytes = field(default=b"", repr=False, compare=False)
    #: ``timestamp`` parsed once by :func:`~sns_subscriber.parsing.parse`.
    parsed_timestamp: datetime | None = field(default=None, repr=False, compare=False)

    type: MessageType = field(init=False)

    @property
    def topic(self) -> TopicArn | None:
        """The parsed TopicArn (``None`` only for values that bypassed :func:`parse`)."""
        return TopicArn.parse(self.topic_arn)

    @property
    def sent_at(self) -> datetime:
        """``Timestamp`` as an aware datetime (validated by :func:`parse`)."""
        parsed = self.parsed_timestamp or parse_timestamp(self.timestamp)
        if parsed is None:  # pragma: no cover - parse() guarantees a valid timestamp
            raise ValueError(f"invalid Timestamp {self.timestamp!r}")
        return parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification(Message):
    """A published message (``Type: Notification``)."""

    subject: str | None = None
    #: Not signed, and dangerous to show to anyone: visiting it unsubscribes the endpoint.
    unsubscribe_url: str | None = field(default=None, repr=False)
    message_attributes: MappingProxyType[str, MessageAttribute] = field(
        default_factory=lambda: EMPTY_ATTRIBUTES, compare=False
    )

    type: MessageType = field(default="Notification", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionConfirmation(Message):
    """SNS asks this endpoint to confirm a new subscription."""

    token: str
    subscribe_url: str

    type: MessageType = field(default="SubscriptionConfirmation", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeConfirmation(Message):
    """SNS reports that this endpoint was unsubscribed. Never visit ``subscribe_url`` blindly:
    it re-subscribes."""

    token: str
    subscribe_url: str

    type: MessageType = field(default="UnsubscribeConfirmation", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawNotification:
    """A raw-delivery message (``x-amz-sns-rawdelivery: true``): just the published body.

    It carries no signature, so it can never be verified; only HTTP basic auth on the
    endpoint can vouch for it. ``message_id`` and ``topic_arn`` come from unsigned headers.
    """

    message_id: str
    topic_arn: str
    message: str
    raw: bytes = field(default=b"", repr=False, compare=False)
    subject: None = None

    type: Literal["Notification"] = field(default="Notification", init=False)

    @property
    def topic(self) -> TopicArn | None:
        return TopicArn.parse(self.topic_arn)


SNSMessage: TypeAlias = Notification | SubscriptionConfirmation | UnsubscribeConfirmation

_M = TypeVar("_M")


def _direct_constructor(cls: type[_M], names: tuple[str, ...]) -> Callable[..., _M]:
    """A positional constructor for ``cls`` that sets its slots directly.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; that is
    half the cost of parsing a message. :func:`~sns_subscriber.parsing.parse` has validated
    every value already, so it builds messages through this instead. ``names`` lists every
    init field (checked here, once); fields without ``init`` get their default.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    declared = [f.name for f in fields if f.init]
    if sorted(names) != sorted(declared):
        raise AssertionError(f"{cls.__name__} init fields are {declared}, not {names}")
    setters = tuple(getattr(cls, name).__set__ for name in names)
    fixed = tuple((getattr(cls, f.name).__set__, f.default) for f in fields if not f.init)
    new = object.__new__

    def construct(*values: object) -> _M:
        obj = new(cls)
        for setter, value in zip(setters, values, strict=True):
            setter(obj, value)
        for setter, value in fixed:
            setter(obj, value)
        return obj

    return construct


_SIGNED_FIELDS = (
    "message_id", "topic_arn", "message", "timestamp", "signature_version", "signature",
    "signing_cert_url", "raw", "parsed_timestamp",
)  # fmt: skip
#: (message_id, topic_arn, message, timestamp, signature_version, signature, signing_cert_url,
#: raw, parsed_timestamp, subject, unsubscribe_url, message_attributes) -> Notification
new_notification = _direct_constructor(
    Notification, (*_SIGNED_FIELDS, "subject", "unsubscribe_url", "message_attributes")
)
