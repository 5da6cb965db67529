"""parse(): strict about form, tolerant of the spellings AWS itself uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sns_subscriber import (
    MalformedMessageError,
    MessageTooLargeError,
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
    UnsupportedMessageError,
    parse,
)
from sns_subscriber.parsing import parse_raw_delivery
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .conftest import DATA, SIGNED


def _body(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode()


def test_types_are_parsed_into_their_classes(sns_kit: SNSTestKit) -> None:
    assert isinstance(parse(_body(sns_kit.notification())), Notification)
    assert isinstance(parse(_body(sns_kit.subscription_confirmation())), SubscriptionConfirmation)
    assert isinstance(parse(_body(sns_kit.unsubscribe_confirmation())), UnsubscribeConfirmation)


def test_str_body_and_raw_bytes_kept(sns_kit: SNSTestKit) -> None:
    body = _body(sns_kit.notification(message="é ✓ 𝄞"))
    message = parse(body.decode())
    assert message.raw == body
    assert message.message == "é ✓ 𝄞"


def test_lambda_spellings_and_null_subject(sns_kit: SNSTestKit) -> None:
    fields = sns_kit.notification()
    fields["SigningCertUrl"] = fields.pop("SigningCertURL")
    fields["UnsubscribeUrl"] = fields.pop("UnsubscribeURL")
    fields["Subject"] = None
    message = parse(_body(fields))
    assert isinstance(message, Notification)
    assert message.subject is None
    assert message.signing_cert_url.startswith("https://sns.")


def test_lambda_record_and_event_are_unwrapped() -> None:
    record = (SIGNED / "budget-actual-daily-2023-03-05-us-east-1.lambda-record.json").read_bytes()
    message = parse(record)
    assert message.message_id == "0afa48ef-db9f-5b07-9359-149237adeae5"
    event = (DATA / "signed" / "s3-object-created-2019-09-04-us-west-1.lambda-record.json").read_bytes()
    assert parse(event).type == "Notification"
    wrapped = {"Records": [{"EventSource": "aws:sns", "Sns": json.loads(record)}]}
    assert parse(_body(wrapped)).message_id == message.message_id


def test_lambda_alias_disagreeing_with_http_spelling_is_malformed(sns_kit: SNSTestKit) -> None:
    fields = sns_kit.notification()
    fields["SigningCertUrl"] = fields["SigningCertURL"].replace("us-east-1", "us-west-2")
    with pytest.raises(MalformedMessageError, match="disagree"):
        parse(_body(fields))


def test_headers_cross_checked_case_insensitively(sns_kit: SNSTestKit) -> None:
    fields = sns_kit.notification()
    headers = {k.upper(): v for k, v in sns_kit.headers(fields).items()}
    assert parse(_body(fields), headers).message_id == fields["MessageId"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-amz-sns-message-type", "SubscriptionConfirmation"),
        ("x-amz-sns-message-id", "00000000-0000-0000-0000-000000000000"),
        ("x-amz-sns-topic-arn", "arn:aws:sns:us-east-1:123456789012:other"),
    ],
)
def test_header_body_mismatch_is_malformed(sns_kit: SNSTestKit, header: str, value: str) -> None:
    fields = sns_kit.notification()
    headers = sns_kit.headers(fields) | {header: value}
    with pytest.raises(MalformedMessageError, match=header):
        parse(_body(fields), headers)


def test_raw_delivery_is_unsupported_by_parse() -> None:
    headers = {
        "x-amz-sns-rawdelivery": "true",
        "x-amz-sns-message-id": "m-1",
        "x-amz-sns-topic-arn": TEST_TOPIC_ARN,
    }
    with pytest.raises(UnsupportedMessageError, match="raw message delivery") as info:
        parse(b"This is a test message.", headers)
    assert info.value.message_id == "m-1"


def test_parse_raw_delivery_reads_identity_from_headers() -> None:
    headers = {
        "X-Amz-Sns-Rawdelivery": "true",
        "x-amz-sns-message-id": "m-1",
        "x-amz-sns-topic-arn": TEST_TOPIC_ARN,
    }
    raw = parse_raw_delivery(b"hello", headers)
    assert (raw.message_id, raw.topic_arn, raw.message) == ("m-1", TEST_TOPIC_ARN, "hello")
    with pytest.raises(MalformedMessageError):
        parse_raw_delivery(b"hello", {"x-amz-sns-topic-arn": TEST_TOPIC_ARN})
    with pytest.raises(MalformedMessageError):
        parse_raw_delivery(b"hello", {"x-amz-sns-message-id": "m-1", "x-amz-sns-topic-arn": "nope"})
    with pytest.raises(MalformedMessageError):
        parse_raw_delivery(b"\xff", {"x-amz-sns-message-id": "m-1", "x-amz-sns-topic-arn": TEST_TOPIC_ARN})


BAD_BODIES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"not json", id="not-json"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"string"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"{}", id="empty-object"),
    pytest.param(b'{"Type": "Notification"}', id="missing-fields"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    pytest.param(b'{"Type": NaN}', id="nan"),
    pytest.param(b'{"Type": "Notification", "Type": "Notification"}', id="duplicate-key"),
    pytest.param(b'{"Records": []}', id="empty-lambda-event"),
    pytest.param(b'{"EventSource": "aws:sns", "Sns": "x"}', id="lambda-record-without-sns-object"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        parse(body)


@pytest.mark.parametrize("kind", ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_each_required_field_missing_or_mistyped_is_malformed(sns_kit: SNSTestKit, kind: str) -> None:
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "Notification": sns_kit.notification,
        "SubscriptionConfirmation": sns_kit.subscription_confirmation,
        "UnsubscribeConfirmation": sns_kit.unsubscribe_confirmation,
    }
    fields = builders[kind]()
    required = [
        "MessageId",
        "TopicArn",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ]
    if kind != "Notification":
        required += ["Token", "SubscribeURL"]
    for key in required:
        missing = {k: v for k, v in fields.items() if k != key}
        with pytest.raises(MalformedMessageError, match=key):
            parse(_body(missing))
        for wrong in (1, True, ["x"], {"a": "b"}, None):
            with pytest.raises(MalformedMessageError, match=key):
                parse(_body(fields | {key: wrong}))


@pytest.mark.parametrize("kind", ["Publish", "notification", "", "SubscriptionConfirmation "])
def test_unknown_type_is_unsupported(sns_kit: SNSTestKit, kind: str) -> None:
    with pytest.raises(UnsupportedMessageError):
        parse(_body(sns_kit.notification() | {"Type": kind}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("TopicArn", "arn:aws:sqs:us-east-1:123456789012:q"),
        ("TopicArn", "arn:aws:sns:us-east-1:12345:t"),
        ("TopicArn", "not an arn"),
        ("TopicArn", "arn:aws:sns:us-east-1:123456789012:t\n"),
        ("Timestamp", "2026-01-01T00:00:00.000Z\n"),
        ("Timestamp", "yesterday"),
        ("Timestamp", "2026-02-30T00:00:00.000Z"),
        ("Timestamp", "2026-01-01T00:00:00"),
        ("MessageId", ""),
        ("MessageId", "x" * 200),
        ("MessageId", "has space"),
        ("MessageId", "line\nbreak"),
        ("Subject", 5),
        ("MessageAttributes", "x"),
        ("MessageAttributes", {"a": "x"}),
        ("MessageAttributes", {"a": {"Type": "String"}}),
    ],
)
def test_bad_field_values_are_malformed(sns_kit: SNSTestKit, field: str, value: object) -> None:
    with pytest.raises(MalformedMessageError):
        parse(_body(sns_kit.notification() | {field: value}))


def test_size_cap_is_configurable(sns_kit: SNSTestKit) -> None:
    body = _body(sns_kit.notification(message="x" * 2000))
    with pytest.raises(MessageTooLargeError):
        parse(body, max_bytes=1000)
    assert parse(body, max_bytes=len(body)).message == "x" * 2000


def test_unknown_extra_fields_are_tolerated(sns_kit: SNSTestKit) -> None:
    """SNS may add fields; they are not signed and must not break parsing."""
    assert parse(_body(sns_kit.notification() | {"NewField": {"nested": [1]}})).type == "Notification"


def test_doc_examples_parse_but_are_placeholders() -> None:
    """The developer guide's examples have EXAMPLE signatures: they parse and never verify."""
    for name in (
        "sns-doc-notification.json",
        "sns-doc-subscription-confirmation.json",
        "sns-doc-unsubscribe-confirmation.json",
    ):
        message = parse((DATA / "docs" / name).read_bytes())
        assert "EXAMPLE" in message.signature or len(message.signature) < 300


def test_directly_built_notification_is_the_same_frozen_value() -> None:
    import dataclasses

    from sns_subscriber.messages import EMPTY_ATTRIBUTES, Notification, _direct_constructor, new_notification

    direct = new_notification(
        "id", "arn:aws:sns:us-east-1:123456789012:t", "m", "2026-11-29T00:00:00.000Z", "2", "sig", "url",
        b"raw", None, "subject", None, EMPTY_ATTRIBUTES,
    )  # fmt: skip
    regular = Notification(
        message_id="id", topic_arn="arn:aws:sns:us-east-1:123456789012:t", message="m",
        timestamp="2026-11-29T00:00:00.000Z", signature_version="2", signature="sig", signing_cert_url="url",
        raw=b"raw", subject="subject",
    )  # fmt: skip
    assert direct == regular and direct.type == "Notification" and direct.raw == b"raw"
    with pytest.raises(dataclasses.FrozenInstanceError):
        direct.message = "changed"  # type: ignore[misc]
    with pytest.raises(AssertionError, match="init fields"):
        _direct_constructor(Notification, ("message_id", "topic_arn"))
