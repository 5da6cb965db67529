"""Strict parsing of an SNS HTTP request body into a message value.

Nothing here touches the network or checks signatures; it only decides whether the bytes are
a well-formed SNS message and which one. Everything that can be wrong with the body raises
:class:`~sns_subscriber.exceptions.MalformedMessageError` (400) or
:class:`~sns_subscriber.exceptions.UnsupportedMessageError` (400).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from .exceptions import MalformedMessageError, MessageTooLargeError, UnsupportedMessageError
from .messages import (
    EMPTY_ATTRIBUTES,
    MessageAttribute,
    RawNotification,
    SNSMessage,
    SubscriptionConfirmation,
    TopicArn,
    UnsubscribeConfirmation,
    new_notification,
    parse_timestamp,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "normalize_headers", "parse", "parse_raw_delivery"]

#: 256 KiB payload, up to x6 JSON escaping of control characters is rare; 1 MiB covers a
#: worst-case-but-legal message with envelope and attributes.
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024

HEADER_TYPE: Final = "x-amz-sns-message-type"
HEADER_ID: Final = "x-amz-sns-message-id"
HEADER_TOPIC: Final = "x-amz-sns-topic-arn"
HEADER_RAW: Final = "x-amz-sns-rawdelivery"

# Lambda records spell some keys differently; both spellings mean the same field.
_ALIASES: Final = {
    "SigningCertUrl": "SigningCertURL",
    "UnsubscribeUrl": "UnsubscribeURL",
    "SubscribeUrl": "SubscribeURL",
}
_COMMON: Final = (
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)
_CONFIRMATION: Final = (*_COMMON, "Token", "SubscribeURL")
_GET_COMMON: Final = operator.itemgetter(*_COMMON)
_GET_CONFIRMATION: Final = operator.itemgetter(*_CONFIRMATION)
_ALIAS_KEYS: Final = frozenset(_ALIASES)
_TYPES: Final = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})
_MAX_ID_LENGTH: Final = 128
# SNS MessageIds are UUIDs (every real message, the documentation's examples, LocalStack and
# moto); checked after a length test, so the pattern only ever sees 36 characters.
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# C0 and C1 controls and DEL. SNS refuses a Subject holding any of them ("no line breaks or
# control characters"), so a Subject with one was not published by SNS.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A JSON escape of a UTF-16 surrogate. A valid pair decodes to one character; a lone one
# decodes to a str that cannot be encoded as UTF-8 (the string to sign, the store, a log line).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_MAX_TOKEN_LENGTH: Final = 2048
_MAX_URL_LENGTH: Final = 4096


def normalize_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Lower-case header names (HTTP header names are case-insensitive)."""
    if not headers:
        return {}
    return {name.lower(): value for name, value in headers.items()}


def parse(
    body: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> SNSMessage:
    """Parse an SNS HTTP(S) delivery into a :class:`Notification`,
    :class:`SubscriptionConfirmation` or :class:`UnsubscribeConfirmation`.

    ``headers`` (any case) are cross-checked with the body when given. A raw delivery
    (``x-amz-sns-rawdelivery: true``) raises :class:`UnsupportedMessageError`: it has no
    signature; see :func:`parse_raw_delivery`. The Lambda spellings (``SigningCertUrl``,
    ``"Subject": null``) and a whole Lambda SNS record are accepted too.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if len(raw) > max_bytes:
        raise MessageTooLargeError(f"body is {len(raw)} bytes, over the {max_bytes}-byte cap")
    lower = normalize_headers(headers)
    if lower.get(HEADER_RAW, "").strip().lower() == "true":
        raise UnsupportedMessageError(
            "raw message delivery cannot be verified (it carries no signature); disable "
            "RawMessageDelivery on the subscription, or allow raw delivery with basic auth",
            message_id=lower.get(HEADER_ID),
            topic_arn=lower.get(HEADER_TOPIC),
        )
    fields = _unwrap_lambda(_load_object(raw))
    message = _build(fields, raw)
    _cross_check(message, lower)
    return message


def parse_raw_delivery(
    body: bytes, headers: Mapping[str, str], *, max_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> RawNotification:
    """Build a :class:`RawNotification` from a raw delivery; identity comes from (unsigned)
    headers, so only call this for requests that passed HTTP basic auth."""
    if len(body) > max_bytes:
        raise MessageTooLargeError(f"body is {len(body)} bytes, over the {max_bytes}-byte cap")
    lower = normalize_headers(headers)
    message_id = lower.get(HEADER_ID, "")
    topic_arn = lower.get(HEADER_TOPIC, "")
    if not _valid_id(message_id):
        raise MalformedMessageError(f"raw delivery needs a valid {HEADER_ID} header", value=message_id)
    if TopicArn.parse(topic_arn) is None:
        raise MalformedMessageError(f"raw delivery needs a valid {HEADER_TOPIC} header", value=topic_arn)
    if lower.get(HEADER_TYPE, "Notification") != "Notification":
        raise UnsupportedMessageError("raw delivery is only used for Notifications", value=lower[HEADER_TYPE])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessageError(f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return RawNotification(message_id=message_id, topic_arn=topic_arn, message=text, raw=bytes(body))


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # Two parsers could pick different values of a duplicated key: the one that checked
        # the signature and the one that acts on the message. Refuse the ambiguity.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedMessageError("duplicate key in JSON object", value=key)
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise MalformedMessageError("non-standard JSON constant", value=name)


# Built once: json.loads with hooks would build a new decoder for every message.
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def _load_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessageError(f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        loaded = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedMessageError(
            f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise MalformedMessageError("body nests too deeply") from exc
    except ValueError as exc:
        # int() refuses numbers of more than 4300 digits (CVE-2020-10735 limit); SNS never
        # sends numbers at all, so any such body is a client's mistake, not our bug.
        raise MalformedMessageError(f"body is not acceptable JSON: {str(exc)[:120]}") from exc
    if not isinstance(loaded, dict):
        raise MalformedMessageError(f"body is a JSON {type(loaded).__name__}, not an object")
    if _SURROGATE_ESCAPE.search(text) is not None:
        _reject_lone_surrogates(loaded)
    return loaded


def _reject_lone_surrogates(fields: dict[str, Any]) -> None:
    """Refuse a body whose strings hold a lone UTF-16 surrogate: SNS sends valid UTF-8 only,
    and such a string cannot be encoded (string to sign, storage, logs) without failing."""
    pending: list[Any] = [fields]
    while pending:  # iterative: nesting depth is bounded by the decoder, not by our stack
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise MalformedMessageError(
                    f"body holds a lone UTF-16 surrogate ({exc.object[exc.start]!a}), not text"
                ) from None


def _unwrap_lambda(fields: dict[str, Any]) -> dict[str, Any]:
    """Accept a Lambda SNS event or record (as saved by tools and logs) as its ``Sns`` part."""
    records = fields.get("Records")
    if "Type" not in fields and isinstance(records, list):
        if len(records) != 1:
            raise MalformedMessageError(f"a Lambda event must hold exactly one record, not {len(records)}")
        fields = records[0] if isinstance(records[0], dict) else {}
    if "Type" not in fields and fields.get("EventSource") == "aws:sns":
        inner = fields.get("Sns")
        if not isinstance(inner, dict):
            raise MalformedMessageError("Lambda record has no Sns object")
        return inner
    return fields


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= _MAX_ID_LENGTH and value.isascii() and value.isprintable() and " " not in value


def _token_like(value: str, limit: int) -> bool:
    """Printable ASCII without spaces (so without line breaks), at most ``limit`` long."""
    return 0 < len(value) <= limit and value.isascii() and value.isprintable() and " " not in value


def _string(fields: dict[str, Any], key: str, message_id: str | None) -> str:
    value = fields.get(key)
    if value is None:
        raise MalformedMessageError(f"required field {key} is missing", message_id=message_id, value=key)
    if not isinstance(value, str):
        raise MalformedMessageError(
            f"field {key} must be a string, not {type(value).__name__}",
            message_id=message_id,
            value=key,
        )
    return value


def _optional_string(fields: dict[str, Any], key: str, message_id: str) -> str | None:
    value = fields.get(key)
    if value is None:  # Lambda writes "Subject": null for "no subject"
        return None
    if not isinstance(value, str):
        raise MalformedMessageError(
            f"field {key} must be a string, not {type(value).__name__}",
            message_id=message_id,
            value=key,
        )
    return value


def _canonical_keys(fields: dict[str, Any]) -> dict[str, Any]:
    out = fields
    for alias, name in _ALIASES.items():
        if alias in fields:
            if out is fields:
                out = dict(fields)
            value = out.pop(alias)
            if name in fields and fields[name] != value:
                raise MalformedMessageError(f"{alias} and {name} disagree", value=name)
            out[name] = value
    return out


def _attributes(value: Any, message_id: str) -> MappingProxyType[str, MessageAttribute]:
    if value is None:
        return EMPTY_ATTRIBUTES
    if not isinstance(value, dict):
        raise MalformedMessageError("MessageAttributes must be an object", message_id=message_id)
    out: dict[str, MessageAttribute] = {}
    for name, attr in value.items():
        if not isinstance(attr, dict):
            raise MalformedMessageError(
                "message attribute must be an object", message_id=message_id, value=name
            )
        kind, val = attr.get("Type"), attr.get("Value")
        if not isinstance(kind, str) or not isinstance(val, str):
            raise MalformedMessageError(
                "message attribute needs string Type and Value", message_id=message_id, value=name
            )
        out[name] = MessageAttribute(type=kind, value=val)
    return MappingProxyType(out)


def _build(fields: dict[str, Any], raw: bytes) -> SNSMessage:
    if not _ALIAS_KEYS.isdisjoint(fields):
        fields = _canonical_keys(fields)
    message_id_value = fields.get("MessageId")
    # Context for errors raised before the MessageId is checked: only a plausible one (an
    # error message must not carry a megabyte, nor line breaks, into the logs).
    message_id = (
        message_id_value if isinstance(message_id_value, str) and _valid_id(message_id_value) else None
    )
    kind = _string(fields, "Type", message_id)
    if kind not in _TYPES:
        raise UnsupportedMessageError("unknown message Type", message_id=message_id, value=kind)
    confirmation = kind != "Notification"
    required = _CONFIRMATION if confirmation else _COMMON
    try:
        # One C-level fetch of every required field; the slow path names the culprit.
        values: tuple[str, ...] = (_GET_CONFIRMATION if confirmation else _GET_COMMON)(fields)
    except KeyError:
        values = ()
    if len(values) != len(required) or set(map(type, values)) != {str}:
        for key in required:
            _string(fields, key, message_id)  # raises the precise error
    _, message_id, topic_arn, text, timestamp, version, signature, cert_url, *extra = values
    # The string to sign is "key\nvalue\n" for each signed field, so a value holding a line
    # break could move the boundaries between fields: a genuine signature would then cover a
    # different message (say, a new MessageId cut out of the Message text, which bypasses
    # dedupe). Every signed field but Message is therefore required to hold no line break
    # (MessageId: a UUID; Subject: no control character; Timestamp and TopicArn: their exact
    # shapes; Type: one of three words; Token and SubscribeURL: printable ASCII, no spaces).
    # Message, the first field, is the only one that may span lines, and the form is then
    # unambiguous: read from the end, the lines after Message are a fixed sequence of one-line
    # values whose key lines ("Subject" or "MessageId" just before the last six lines, and so
    # on) say exactly where Message ends. Nothing of Message can pose as a later field.
    if len(message_id) != 36 or _UUID.fullmatch(message_id) is None:
        raise MalformedMessageError("MessageId is not a UUID", value=message_id[:_MAX_ID_LENGTH])
    if TopicArn.parse(topic_arn) is None:
        raise MalformedMessageError(
            "TopicArn is not an SNS topic ARN", message_id=message_id, value=topic_arn
        )
    sent_at = parse_timestamp(timestamp)
    if sent_at is None:
        raise MalformedMessageError(
            "Timestamp is not an ISO-8601 UTC time", message_id=message_id, value=timestamp
        )
    if not confirmation:
        attributes = fields.get("MessageAttributes")
        subject = _optional_string(fields, "Subject", message_id)
        if subject is not None and _CONTROL.search(subject) is not None:
            raise MalformedMessageError(
                "Subject holds a line break or control character (SNS never sends one)",
                message_id=message_id,
                value=subject[:_MAX_ID_LENGTH],
            )
        return new_notification(
            message_id,
            topic_arn,
            text,
            timestamp,
            version,
            signature,
            cert_url,
            raw,
            sent_at,
            subject,
            _optional_string(fields, "UnsubscribeURL", message_id),
            EMPTY_ATTRIBUTES if attributes is None else _attributes(attributes, message_id),
        )
    token, subscribe_url = extra
    if not _token_like(token, _MAX_TOKEN_LENGTH):
        raise MalformedMessageError(
            "Token is empty, too long or not printable ASCII",
            message_id=message_id,
            value=token[:_MAX_ID_LENGTH],
        )
    if not _token_like(subscribe_url, _MAX_URL_LENGTH):
        raise MalformedMessageError(
            "SubscribeURL is empty, too long or not printable ASCII",
            message_id=message_id,
            value=subscribe_url[:_MAX_ID_LENGTH],
        )
    cls = SubscriptionConfirmation if kind == "SubscriptionConfirmation" else UnsubscribeConfirmation
    return cls(
        message_id=message_id,
        topic_arn=topic_arn,
        message=text,
        timestamp=timestamp,
        signature_version=version,
        signature=signature,
        signing_cert_url=cert_url,
        raw=raw,
        parsed_timestamp=sent_at,
        token=token,
        subscribe_url=subscribe_url,
    )


def _cross_check(message: SNSMessage, headers: dict[str, str]) -> None:
    # The headers are as unsigned as the body's envelope, but a disagreement means a proxy,
    # a client bug or tampering: refuse rather than guess which one the caller meant.
    for header, value in (
        (HEADER_TYPE, message.type),
        (HEADER_ID, message.message_id),
        (HEADER_TOPIC, message.topic_arn),
    ):
        sent = headers.get(header)
        if sent is not None and sent != value:
            raise MalformedMessageError(
                f"header {header} does not match the body",
                message_id=message.message_id,
                topic_arn=message.topic_arn,
                value=sent,
            )
