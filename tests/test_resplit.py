"""Signature re-split: one genuine signature must never cover a second, different message.

The string to sign is ``key\\nvalue\\n`` per signed field. If a field other than Message could
hold a line break, the text of a genuine message (a budget name, an alarm description: chosen
by people who are not the operator) could be re-cut into other fields: a new MessageId from
the Message text, the rest pushed into Subject. The signature still matches, dedupe sees a new
MessageId, and the alert is processed (e-mailed) twice (issue 10, finding 2).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber import (
    InvalidSignatureError,
    MalformedMessageError,
    Notification,
    UnsupportedMessageError,
    parse,
)
from sns_subscriber.signing import string_to_sign
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.pipeline import make_subscriber, post, sqlite_store

SECOND_ID = "0b5e55ed-0000-4000-8000-00000000a77a"


def genuine_and_resplit(kit: SNSTestKit, *, subject: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A genuinely signed Notification whose text holds ``\\nMessageId\\n<uuid>\\nSubject\\n``,
    and the same signature on the fields re-cut at those line breaks."""
    text = f"Budget alert\nMessageId\n{SECOND_ID}\nSubject\nsee below"
    fields = kit.notification(TEST_TOPIC_ARN, text, subject=subject)
    tail = f"\nMessageId\n{fields['MessageId']}" + (f"\nSubject\n{subject}" if subject is not None else "")
    resplit = dict(fields, Message="Budget alert", MessageId=SECOND_ID, Subject="see below" + tail)
    return fields, resplit


@pytest.mark.parametrize("subject", [None, "AWS Budgets: team-a has exceeded your alert threshold"])
def test_attack_resplit_message_is_the_same_string_to_sign(sns_kit: SNSTestKit, subject: str | None) -> None:
    """The attack is real: both cuts give the same bytes, so the same signature matches."""
    fields, resplit = genuine_and_resplit(sns_kit, subject=subject)
    original = parse(sns_kit.body(fields))
    assert isinstance(original, Notification)
    forged = dataclasses.replace(
        original, message=resplit["Message"], message_id=resplit["MessageId"], subject=resplit["Subject"]
    )
    assert string_to_sign(forged) == string_to_sign(original)


@pytest.mark.parametrize("subject", [None, "AWS Budgets: team-a has exceeded your alert threshold"])
def test_attack_resplit_signature_is_rejected_and_dedupe_holds(
    sns_kit: SNSTestKit, tmp_path: Path, subject: str | None
) -> None:
    """The genuine message is accepted once; its re-split twin is a 400 and stores nothing."""
    store = sqlite_store(tmp_path)
    try:
        subscriber = make_subscriber(sns_kit, store, tmp_path)
        fields, resplit = genuine_and_resplit(sns_kit, subject=subject)
        assert subscriber.handle(post(fields)).status == 200
        outcome = subscriber.handle(post(resplit))
        assert (outcome.status, outcome.result) == (400, "malformed")
        assert "Subject" in (outcome.detail or "")
        assert sum(store.counts().values()) == 1
        assert store.get(SECOND_ID) is None
    finally:
        store.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Subject", "line\nbreak"),
        ("Subject", "carriage\rreturn"),
        ("Subject", "tab\there"),
        ("Subject", "nul\x00"),
        ("Subject", "c1 control\x85"),
        ("Subject", "delete\x7f"),
        ("MessageId", "not-a-uuid"),
        ("MessageId", "0b5e55ed-0000-4000-8000-00000000a77a\n"),
        ("MessageId", "0b5e55ed-0000-4000-8000-00000000a77"),
        ("MessageId", "0b5e55ed_0000_4000_8000_00000000a77a"),
        ("Timestamp", "2026-03-06T19:53:21.424Z\n"),
        ("TopicArn", TEST_TOPIC_ARN + "\nType"),
        ("Type", "Notification\n"),
    ],
)
def test_attack_signed_field_with_a_line_break_or_odd_shape_is_malformed(
    sns_kit: SNSTestKit, field: str, value: str
) -> None:
    """Every signed field but Message must be one line of its known shape; anything else is
    refused before verification (the kit cannot even sign it: it parses what it signs)."""
    fields = sns_kit.notification(TEST_TOPIC_ARN, "m", subject="s")
    fields[field] = value
    with pytest.raises((MalformedMessageError, UnsupportedMessageError)):
        parse(sns_kit.body(fields))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Token", "abc\ndef"),
        ("Token", "abc def"),
        ("Token", "x" * 5000),
        ("SubscribeURL", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\nToken"),
        ("SubscribeURL", ""),
    ],
)
def test_attack_confirmation_fields_with_line_breaks_are_malformed(
    sns_kit: SNSTestKit, field: str, value: str
) -> None:
    fields = sns_kit.subscription_confirmation(TEST_TOPIC_ARN)
    fields[field] = value
    with pytest.raises(MalformedMessageError, match=field):
        parse(sns_kit.body(fields))


def test_message_may_still_span_lines_and_subjects_may_be_unicode(sns_kit: SNSTestKit) -> None:
    """What SNS does send keeps working: multi-line Message, non-ASCII Subject, upper-case UUID."""
    fields = sns_kit.notification(
        TEST_TOPIC_ARN,
        "line one\nMessageId\nline three\r\n",
        subject="Budget dépassé ✓",
        message_id="0B5E55ED-0000-4000-8000-00000000A77A",
    )
    verifier = sns_kit.verifier([TEST_TOPIC_ARN])
    message = verifier.verify(parse(sns_kit.body(fields)))
    assert isinstance(message, Notification)
    assert (message.subject, message.message_id) == ("Budget dépassé ✓", fields["MessageId"])


def test_real_messages_have_uuid_message_ids() -> None:
    """Every genuinely AWS-signed fixture still parses (their MessageIds are UUIDs)."""
    signed = Path(__file__).parent / "data" / "signed"
    manifest = json.loads((signed / "manifest.json").read_text())
    for entry in manifest["messages"]:
        assert parse((signed / entry["file"]).read_bytes()).message_id


def test_attack_hand_built_resplit_message_fails_verification(sns_kit: SNSTestKit) -> None:
    """A message built without parse() (an adapter of its own, a queue consumer) is checked
    too: the verifier refuses a signed field other than Message that spans lines."""
    fields, resplit = genuine_and_resplit(sns_kit, subject=None)
    original = parse(sns_kit.body(fields))
    assert isinstance(original, Notification)
    forged = dataclasses.replace(
        original, message=resplit["Message"], message_id=resplit["MessageId"], subject=resplit["Subject"]
    )
    verifier = sns_kit.verifier([TEST_TOPIC_ARN])
    assert verifier.verify(original) is original
    with pytest.raises(InvalidSignatureError, match="line break"):
        verifier.verify(forged)


def test_simulator_refuses_a_message_id_that_is_not_a_uuid(tmp_path: Path) -> None:
    """The receiver only accepts UUID MessageIds, so the simulator says so up front instead of
    signing a message that could never be delivered (or failing with a traceback)."""
    result = subprocess.run(
        [sys.executable, "-m", "sns_subscriber", "simulate", "--endpoint", "http://127.0.0.1:9/sns",
         "--topic", TEST_TOPIC_ARN, "--cert-dir", str(tmp_path / "certs"), "topic-verified", "--message-id", "m-1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not a valid UUID" in result.stderr
    assert "Traceback" not in result.stderr
