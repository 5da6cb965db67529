"""Property tests: what the kit signs verifies; any mutation is rejected with our errors only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sns_subscriber import RejectedMessageError, SNSSubscriberError, Verifier, parse
from sns_subscriber.testing import TEST_TOPIC_ARN, default_kit

KIT = default_kit()
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
#: SNS refuses subjects with line breaks or control characters (parse does too).
subjects = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=100)


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Verifier:
    return KIT.verifier([TEST_TOPIC_ARN], cert_dir=tmp_path_factory.mktemp("kit"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=text, subject=st.none() | subjects, version=st.sampled_from(["1", "2"]))
def test_sign_then_verify_round_trip(
    verifier: Verifier, message: str, subject: str | None, version: str
) -> None:
    fields = KIT.notification(TEST_TOPIC_ARN, message, subject=subject, signature_version=version)
    verified = verifier.verify(parse(KIT.body(fields), KIT.headers(fields)))
    assert verified.message == message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=text, token=st.text("0123456789abcdef", min_size=1, max_size=64))
def test_confirmations_round_trip(verifier: Verifier, message: str, token: str) -> None:
    for fields in (
        KIT.subscription_confirmation(token=token),
        KIT.unsubscribe_confirmation(token=token),
    ):
        fields["Message"] = message
        KIT.sign(fields)
        assert verifier.verify(parse(KIT.body(fields))).message == message


BASE = KIT.body(KIT.notification(TEST_TOPIC_ARN, "base message", subject="s"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_byte_mutation_is_rejected_never_crashes(verifier: Verifier, data: st.DataObject) -> None:
    body = bytearray(BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(body) - 1))
        original = body[index]
        body[index] = data.draw(st.integers(0, 255).filter(original.__ne__))
    try:
        message = verifier.verify(parse(bytes(body)))
    except SNSSubscriberError:
        return
    # A mutation may only survive in unsigned bytes (JSON whitespace or unsigned fields).
    original = json.loads(BASE)
    for key in ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"):
        assert (
            getattr(message, {"MessageId": "message_id", "TopicArn": "topic_arn"}.get(key, key.lower()))
            == original[key]
        )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_json_is_rejected_cleanly(verifier: Verifier, value: object) -> None:
    with pytest.raises(RejectedMessageError):
        verifier.verify(parse(json.dumps(value).encode()))


def test_kit_writes_a_cert_dir(tmp_path: Path) -> None:
    path = KIT.write_cert_dir(tmp_path / "certs")
    assert (path / KIT.cert_filename).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
