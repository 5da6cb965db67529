"""`dlq drain` (moto): dead letters move into the inbox, verified when signed, deduplicated,
deleted from the queue only once stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sns_subscriber.cli.app import cli
from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import open_configured_store
from sns_subscriber.testing import SNSTestKit

from .support.aws import client, mocked_aws

TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"


@pytest.fixture
def dlq(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mocked_aws(monkeypatch):
        url: str = client("sqs").create_queue(QueueName="sns-subscriber-dlq")["QueueUrl"]
        yield url


@pytest.fixture
def config(tmp_path: Path, sns_kit: SNSTestKit) -> Path:
    certs = sns_kit.write_cert_dir(tmp_path / "certs")
    path = tmp_path / "sns-subscriber.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///inbox.db"\n[verification]\ncert_dir = "{certs}"\nfetch = false\n'
        f'[[endpoints]]\npath = "/budget"\ntopics = ["{TOPIC}"]\n'
    )
    return path


def send(url: str, body: bytes | str) -> None:
    client("sqs").send_message(QueueUrl=url, MessageBody=body.decode() if isinstance(body, bytes) else body)


def left(url: str) -> int:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def drain(config: Path, url: str, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["dlq", "drain", "--config", str(config), "--queue-url", url, *extra])


def records(config: Path) -> list[tuple[str, str, bool, bytes]]:
    store = open_configured_store(load_config(config))
    try:
        return sorted((r.endpoint, r.topic_arn, r.raw_delivery, r.body) for r in store.list_messages())
    finally:
        store.close()


def test_drain_moves_signed_and_bare_dead_letters_into_the_inbox(
    dlq: str, config: Path, sns_kit: SNSTestKit
) -> None:
    envelope = sns_kit.body(sns_kit.notification(TOPIC, "SNS gave up on this one"))
    send(dlq, envelope)
    send(dlq, '{"bare": "raw delivery"}')
    result = drain(config, dlq)
    assert result.exit_code == 0, result.output
    assert "received 2; moved into the inbox 1 verified and 1 unsigned (AWS-API-sourced)" in result.output
    assert records(config) == [
        ("/budget", TOPIC, False, envelope),
        (
            "dlq:sns-subscriber-dlq",
            "arn:aws:sqs:us-east-1:123456789012:sns-subscriber-dlq",
            True,
            b'{"bare": "raw delivery"}',
        ),
    ]
    assert left(dlq) == 0


def test_drain_is_deduplicated_against_the_inbox(dlq: str, config: Path, sns_kit: SNSTestKit) -> None:
    envelope = sns_kit.body(sns_kit.notification(TOPIC, "delivered late, then dead-lettered too"))
    send(dlq, envelope)
    assert drain(config, dlq).exit_code == 0
    send(dlq, envelope)
    result = drain(config, dlq)
    assert "1 already in the inbox" in result.output
    assert len(records(config)) == 1
    assert left(dlq) == 0


def test_drain_leaves_forged_and_foreign_envelopes_in_the_queue(
    dlq: str, config: Path, sns_kit: SNSTestKit
) -> None:
    """Whoever can write to the dead-letter queue must not get a forged SNS message (or one of
    a topic no endpoint accepts) into the inbox by way of a drain."""
    forged = sns_kit.notification(TOPIC, "genuine")
    forged["Message"] = "forged"
    send(dlq, sns_kit.body(forged))
    send(dlq, sns_kit.body(sns_kit.notification("arn:aws:sns:us-east-1:999999999999:other", "x")))
    result = drain(config, dlq)
    assert result.exit_code == 1
    assert "2 rejected (left in the queue)" in result.output
    assert records(config) == []
    store = open_configured_store(load_config(config))
    try:
        reasons = sorted(r.reason.split(":")[0] for r in store.list_rejections())
        assert {r.source for r in store.list_rejections()} == {"dlq:sns-subscriber-dlq"}
    finally:
        store.close()
    assert reasons == ["invalid_signature", "topic_not_allowed"]
    assert left(dlq) == 2


def test_drain_respects_the_limit(dlq: str, config: Path, sns_kit: SNSTestKit) -> None:
    for i in range(5):
        send(dlq, sns_kit.body(sns_kit.notification(TOPIC, f"dead {i}")))
    result = drain(config, dlq, "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "received 3" in result.output
    assert len(records(config)) == 3
    assert left(dlq) == 2
