"""`subscriptions apply` and `subscriptions check` against moto (botocore's Stubber where moto
cannot show a state: moto confirms HTTP subscriptions at once)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sns_subscriber.aws.subscriptions import DELIVERY_POLICY, Inbox, Target, check, redact_url
from sns_subscriber.cli.app import cli

from .support.aws import client, mocked_aws

ACCOUNT = "123456789012"
PUBLIC = "https://hooks.example.com"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mocked_aws(monkeypatch):
        yield


@pytest.fixture
def setup(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="budget-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-queue")["QueueUrl"]
    monkeypatch.setenv("HOOK_PASSWORD", "s3cret-pass")
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///inbox.db"\n'
        f'[[endpoints]]\npath = "/budget"\ntopics = ["{topic}", "arn:aws:sns:*:{ACCOUNT}:ignored-*"]\n'
        f'basic_auth_username = "sns"\nbasic_auth_password_env = "HOOK_PASSWORD"\n'
        f'[[queues]]\nurl = "{queue_url}"\ntopics = ["{topic}"]\n'
    )
    return {"topic": topic, "queue_url": queue_url, "config": str(config)}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["subscriptions", *args])


def subscriptions(topic: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    return found


def attributes(arn: str) -> dict[str, str]:
    found: dict[str, str] = client("sns").get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    return found


def test_apply_creates_subscriptions_dead_letter_queue_and_queue_policy(setup: dict[str, str]) -> None:
    topic = setup["topic"]
    result = run(
        "apply", "--config", setup["config"], "--public-url", PUBLIC, "--dead-letter-queue", "create"
    )
    assert result.exit_code == 0, result.output
    assert "made 5 change(s)" in result.output  # DLQ + its policy, 2 subscriptions, queue policy
    found = {s["Protocol"]: s for s in subscriptions(topic)}
    assert set(found) == {"https", "sqs"}
    assert found["https"]["Endpoint"] == "https://sns:s3cret-pass@hooks.example.com/budget"
    assert found["sqs"]["Endpoint"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:alerts-queue"
    http = attributes(found["https"]["SubscriptionArn"])
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:sns-subscriber-dlq"
    assert json.loads(http["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn}
    assert json.loads(http["DeliveryPolicy"]) == DELIVERY_POLICY
    assert http["RawMessageDelivery"] == "false"
    sqs = client("sqs")
    for url in (setup["queue_url"], sqs.get_queue_url(QueueName="sns-subscriber-dlq")["QueueUrl"]):
        policy = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
        )
        [statement] = policy["Statement"]
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic}}


def test_apply_never_prints_the_basic_auth_password(setup: dict[str, str]) -> None:
    """The subscription URL carries the endpoint's password; the table and logs must not."""
    result = run("apply", "--config", setup["config"], "--public-url", PUBLIC)
    assert result.exit_code == 0, result.output
    assert "s3cret-pass" not in result.output
    assert "https://sns:****@hooks.example.com/budget" in result.output


def test_apply_is_idempotent(setup: dict[str, str]) -> None:
    args = ("apply", "--config", setup["config"], "--public-url", PUBLIC, "--dead-letter-queue", "create")
    assert run(*args).exit_code == 0
    before = subscriptions(setup["topic"])
    second = run(*args)
    assert second.exit_code == 0, second.output
    assert "nothing to change: every subscription is as configured" in second.output
    assert subscriptions(setup["topic"]) == before


def test_apply_dry_run_changes_nothing(setup: dict[str, str]) -> None:
    result = run(
        "apply",
        "--config",
        setup["config"],
        "--public-url",
        PUBLIC,
        "--dry-run",
        "--dead-letter-queue",
        "create",
    )
    assert result.exit_code == 0, result.output
    assert "would make" in result.output
    assert "subscribe" in result.output
    assert subscriptions(setup["topic"]) == []
    assert client("sqs").list_queues().get("QueueUrls") == [setup["queue_url"]]


def test_apply_corrects_attributes_changed_behind_its_back(setup: dict[str, str]) -> None:
    assert (
        run(
            "apply", "--config", setup["config"], "--public-url", PUBLIC, "--dead-letter-queue", "create"
        ).exit_code
        == 0
    )
    [http] = [s for s in subscriptions(setup["topic"]) if s["Protocol"] == "https"]
    client("sns").set_subscription_attributes(
        SubscriptionArn=http["SubscriptionArn"], AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    result = run(
        "apply", "--config", setup["config"], "--public-url", PUBLIC, "--dead-letter-queue", "create"
    )
    assert "set RawMessageDelivery" in result.output
    assert attributes(http["SubscriptionArn"])["RawMessageDelivery"] == "false"


def test_check_green_then_red_after_raw_delivery_switched_on(setup: dict[str, str]) -> None:
    assert (
        run(
            "apply", "--config", setup["config"], "--public-url", PUBLIC, "--dead-letter-queue", "create"
        ).exit_code
        == 0
    )
    green = run("check", "--config", setup["config"], "--public-url", PUBLIC)
    assert green.exit_code == 0, green.output
    assert green.output.count("confirmed") == 2
    [http] = [s for s in subscriptions(setup["topic"]) if s["Protocol"] == "https"]
    client("sns").set_subscription_attributes(
        SubscriptionArn=http["SubscriptionArn"], AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    red = run("check", "--config", setup["config"], "--public-url", PUBLIC, "--json")
    assert red.exit_code == 1
    report = json.loads(red.output)
    assert report["ok"] is False
    [bad] = [r for r in report["subscriptions"] if r["problems"]]
    assert bad["target"] == "/budget"
    assert bad["problems"] == ["raw delivery is on, /budget expects it off"]


def test_check_reports_missing_no_redrive_and_wrong_url(setup: dict[str, str]) -> None:
    sns = client("sns")
    sns.subscribe(TopicArn=setup["topic"], Protocol="https", Endpoint="https://old-host.example.com/budget")
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:alerts-queue"
    sns.subscribe(TopicArn=setup["topic"], Protocol="sqs", Endpoint=queue_arn)
    result = run("check", "--config", setup["config"], "--public-url", PUBLIC, "--json")
    assert result.exit_code == 1
    rows = {r["target"]: r for r in json.loads(result.output)["subscriptions"]}
    assert rows["/budget"]["found"] == "missing"
    assert rows["/budget"]["problems"] == [
        "missing",
        "wrong endpoint URL: https://old-host.example.com/budget",
    ]
    assert rows["sqs:alerts-queue"]["found"] == "confirmed"
    assert rows["sqs:alerts-queue"]["problems"] == [
        "the queue policy does not let the topic send",
        "no redrive policy (SNS drops what it cannot deliver)",
    ]


def test_check_shows_pending_age_and_deadline() -> None:
    """moto confirms at once; the Stubber gives the answer AWS gives for a pending one."""
    from botocore.stub import Stubber

    from sns_subscriber.aws.clients import AwsClients

    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:budget-alerts"
    sns = AwsClients(credentials=("x", "x")).sns()
    stubber = Stubber(sns)
    stubber.add_response(
        "list_subscriptions_by_topic",
        {
            "Subscriptions": [
                {
                    "SubscriptionArn": "PendingConfirmation",
                    "Owner": ACCOUNT,
                    "Protocol": "https",
                    "Endpoint": "https://hooks.example.com/budget",
                    "TopicArn": topic,
                }
            ]
        },
        {"TopicArn": topic},
    )
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    inbox = Inbox(pending_since=lambda _t, _a: now - timedelta(hours=3), now=lambda: now)
    target = Target("/budget", topic, "https", "https://hooks.example.com/budget", False)
    with stubber:
        [row] = check(lambda _region: sns, [target], inbox)
    assert row.found == "pending"
    assert row.problems == ["pending confirmation for 3 h 00 min; SNS deletes it at 2026-12-05 09:00 UTC"]
    stubber.assert_no_pending_responses()


def test_check_shows_the_last_message_received(setup: dict[str, str], sns_kit: Any) -> None:
    from sns_subscriber.service.config import load_config
    from sns_subscriber.service.runtime import open_configured_store
    from sns_subscriber.stores import NewMessage

    store = open_configured_store(load_config(setup["config"]))
    try:
        store.add(
            NewMessage(
                message_id="m-1",
                endpoint="sqs:alerts-queue",
                topic_arn=setup["topic"],
                message_type="Notification",
                subject=None,
                body=b"{}",
            )
        )
        received = store.list_messages()[0].received_at
    finally:
        store.close()
    result = run("check", "--config", setup["config"], "--public-url", PUBLIC, "--json")
    rows = {r["target"]: r for r in json.loads(result.output)["subscriptions"]}
    assert rows["sqs:alerts-queue"]["last_message_at"] == received.isoformat()
    assert rows["/budget"]["last_message_at"] is None


def test_public_url_with_credentials_is_refused(setup: dict[str, str]) -> None:
    result = run("apply", "--config", setup["config"], "--public-url", "https://u:p@hooks.example.com")
    assert result.exit_code == 2
    assert "--public-url must be" in result.output


def test_aws_errors_are_one_line(setup: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNS_SUBSCRIBER_AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = run("check", "--config", setup["config"], "--public-url", PUBLIC)
    assert result.exit_code == 1
    assert result.output.startswith("Error: AWS: Could not connect to the endpoint URL")
    assert "Traceback" not in result.output


def test_redact_url() -> None:
    assert redact_url("https://u:p%40ss@h.example:8443/x") == "https://u:****@h.example:8443/x"
    assert redact_url("https://h.example/x") == "https://h.example/x"
