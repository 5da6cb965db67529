"""Every genuinely AWS-signed message verifies; any changed byte in a signed field does not."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from sns_subscriber import InvalidSignatureError, Notification, RejectedMessageError, parse
from sns_subscriber.signing import verify_signature

from .conftest import CERTS, SIGNED, SignedFixture, fixture_verifier, signed_fixtures

FIXTURES = signed_fixtures()


def test_fixture_set_covers_all_types_and_versions() -> None:
    kinds = {(f.type, f.signature_version) for f in FIXTURES}
    assert len(FIXTURES) == 27
    assert {"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"} == {k for k, _ in kinds}
    assert {"1", "2"} == {v for _, v in kinds}


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.name)
def test_real_message_verifies(fixture: SignedFixture, no_network: list[str]) -> None:
    message = fixture.message()
    assert message.type == fixture.type
    assert message.signature_version == fixture.signature_version
    assert fixture_verifier(message).verify(message) is message
    assert no_network == []


SIGNED_FIELDS = {
    "Notification": ("message", "message_id", "subject", "timestamp", "topic_arn"),
    "SubscriptionConfirmation": (
        "message",
        "message_id",
        "subscribe_url",
        "timestamp",
        "token",
        "topic_arn",
    ),
    "UnsubscribeConfirmation": (
        "message",
        "message_id",
        "subscribe_url",
        "timestamp",
        "token",
        "topic_arn",
    ),
}


def _one_byte_changes(value: str) -> list[str]:
    """Variants of ``value`` with exactly one character changed, at the start, middle and end."""
    out = []
    for index in sorted({0, len(value) // 2, len(value) - 1}):
        char = value[index]
        replacement = "X" if char != "X" else "Y"
        out.append(value[:index] + replacement + value[index + 1 :])
    return out


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.name)
def test_any_changed_byte_in_a_signed_field_fails(fixture: SignedFixture) -> None:
    message = fixture.message()
    key = fixture_verifier(message).cache.get(message.signing_cert_url)
    checked = 0
    for name in SIGNED_FIELDS[message.type]:
        value = getattr(message, name)
        if value is None:
            continue
        for changed in _one_byte_changes(value):
            forged = dataclasses.replace(message, **{name: changed})  # type: ignore[arg-type]
            with pytest.raises(InvalidSignatureError):
                verify_signature(key, forged)
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize("fixture", FIXTURES[:6], ids=lambda f: f.name)
def test_changed_byte_in_the_body_is_rejected_end_to_end(fixture: SignedFixture) -> None:
    """Editing the raw JSON (not the parsed value) inside the Message text is caught too."""
    message = fixture.message()
    body = fixture.body
    start = body.index(b'"Message"')
    target = body.index(b'"', body.index(b":", start) + 1) + 3  # a byte inside the value
    forged = body[:target] + bytes([body[target] ^ 0x01]) + body[target + 1 :]
    with pytest.raises(RejectedMessageError):
        fixture_verifier(message).verify(parse(forged))


def test_adding_a_subject_to_a_no_subject_notification_fails() -> None:
    fixture = next(f for f in FIXTURES if "no-subject" in f.name)
    message = fixture.message()
    assert isinstance(message, Notification) and message.subject is None
    forged = dataclasses.replace(message, subject="")
    with pytest.raises(InvalidSignatureError):
        fixture_verifier(message).verify(forged)


def test_cli_verifies_every_fixture() -> None:
    files = [str(f.path) for f in FIXTURES]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sns_subscriber",
            "verify",
            "--cert-dir",
            str(CERTS),
            "--any-topic",
            "--at-message-time",
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(FIXTURES)
    for line, fixture in zip(lines, FIXTURES, strict=True):
        assert line.startswith(f"OK {SIGNED / fixture.name} {fixture.type} ")
