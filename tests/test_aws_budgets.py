"""`budgets connect` and `budgets check`: moto for SNS and STS; botocore's Stubber for the
Budgets subscriber APIs moto lacks (answers shaped as in the AWS Budgets API reference)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from sns_subscriber.aws.budgets import BUDGETS_SID, connect
from sns_subscriber.aws.clients import AwsClients
from sns_subscriber.cli.app import cli

from .support.aws import client, mocked_aws

ACCOUNT = "123456789012"
ACTUAL_80 = {
    "NotificationType": "ACTUAL",
    "ComparisonOperator": "GREATER_THAN",
    "Threshold": 80.0,
    "ThresholdType": "PERCENTAGE",
    "NotificationState": "OK",
}
FORECAST_100 = dict(ACTUAL_80, NotificationType="FORECASTED", Threshold=100.0)


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mocked_aws(monkeypatch):
        arn: str = client("sns").create_topic(Name="budget-alerts")["TopicArn"]
        yield arn


@pytest.fixture
def budgets() -> Iterator[tuple[Any, Stubber]]:
    stubbed = AwsClients(credentials=("x", "x")).budgets()
    stubber = Stubber(stubbed)
    with stubber:
        yield stubbed, stubber
    stubber.assert_no_pending_responses()


def notifications(stubber: Stubber, budget: str, found: list[dict[str, Any]]) -> None:
    stubber.add_response(
        "describe_notifications_for_budget",
        {"Notifications": found},
        {"AccountId": ACCOUNT, "BudgetName": budget},
    )


def subscribers(
    stubber: Stubber, budget: str, notification: dict[str, Any], found: list[dict[str, str]]
) -> None:
    stubber.add_response(
        "describe_subscribers_for_notification",
        {"Subscribers": found},
        {"AccountId": ACCOUNT, "BudgetName": budget, "Notification": notification},
    )


def topic_policy(topic: str) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(
        client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    )
    return policy


def test_connect_allows_budgets_scoped_to_the_account_and_subscribes_every_notification(
    topic: str, budgets: tuple[Any, Stubber]
) -> None:
    """Without the scoping condition any account's budgets could publish to the topic."""
    stubbed, stubber = budgets
    other = "arn:aws:sns:us-east-1:123456789012:old-topic"
    notifications(stubber, "team-a-prod", [ACTUAL_80, FORECAST_100])
    subscribers(
        stubber, "team-a-prod", ACTUAL_80, [{"SubscriptionType": "EMAIL", "Address": "a@example.com"}]
    )
    stubber.add_response(
        "create_subscriber",
        {},
        {
            "AccountId": ACCOUNT,
            "BudgetName": "team-a-prod",
            "Notification": ACTUAL_80,
            "Subscriber": {"SubscriptionType": "SNS", "Address": topic},
        },
    )
    subscribers(stubber, "team-a-prod", FORECAST_100, [{"SubscriptionType": "SNS", "Address": other}])
    stubber.add_response(
        "update_subscriber",
        {},
        {
            "AccountId": ACCOUNT,
            "BudgetName": "team-a-prod",
            "Notification": FORECAST_100,
            "OldSubscriber": {"SubscriptionType": "SNS", "Address": other},
            "NewSubscriber": {"SubscriptionType": "SNS", "Address": topic},
        },
    )
    done = connect(client("sns"), stubbed, account_id=ACCOUNT, budget="team-a-prod", topic_arn=topic)
    assert done == [
        "topic policy: allow budgets.amazonaws.com to publish (this account only)",
        "ACTUAL > 80.0%: added the topic",
        f"FORECASTED > 100.0%: replaced topic {other}",
    ]
    [statement] = [s for s in topic_policy(topic)["Statement"] if s.get("Sid") == BUDGETS_SID]
    assert statement["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    # The topic's default statement (the owner's) is kept.
    assert len(topic_policy(topic)["Statement"]) == 2


def test_connect_twice_changes_nothing(topic: str, budgets: tuple[Any, Stubber]) -> None:
    stubbed, stubber = budgets
    notifications(stubber, "b", [ACTUAL_80])
    # A notification always has a subscriber (the API's minimum is one): an e-mail here.
    subscribers(stubber, "b", ACTUAL_80, [{"SubscriptionType": "EMAIL", "Address": "b@example.com"}])
    stubber.add_response(
        "create_subscriber",
        {},
        {
            "AccountId": ACCOUNT,
            "BudgetName": "b",
            "Notification": ACTUAL_80,
            "Subscriber": {"SubscriptionType": "SNS", "Address": topic},
        },
    )
    notifications(stubber, "b", [ACTUAL_80])
    subscribers(stubber, "b", ACTUAL_80, [{"SubscriptionType": "SNS", "Address": topic}])
    sns = client("sns")
    assert len(connect(sns, stubbed, account_id=ACCOUNT, budget="b", topic_arn=topic)) == 2
    assert connect(sns, stubbed, account_id=ACCOUNT, budget="b", topic_arn=topic) == []


def write_config(tmp_path: Path, topic: str) -> Path:
    path = tmp_path / "sns-subscriber.toml"
    path.write_text(f'[[endpoints]]\npath = "/budget"\ntopics = ["{topic}"]\n')
    return path


def test_check_lists_budgets_and_whether_each_notification_is_received(
    topic: str, budgets: tuple[Any, Stubber], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stubbed, stubber = budgets
    stubber.add_response(
        "describe_budgets",
        {
            "Budgets": [
                {"BudgetName": "team-a-prod", "BudgetType": "COST", "TimeUnit": "MONTHLY",
                 "BudgetLimit": {"Amount": "100.0", "Unit": "USD"}},
                {"BudgetName": "team-b-prod", "BudgetType": "COST", "TimeUnit": "MONTHLY",
                 "BudgetLimit": {"Amount": "50.0", "Unit": "USD"}},
            ]
        },
        {"AccountId": ACCOUNT},
    )  # fmt: skip
    notifications(stubber, "team-a-prod", [ACTUAL_80])
    subscribers(stubber, "team-a-prod", ACTUAL_80, [{"SubscriptionType": "SNS", "Address": topic}])
    notifications(stubber, "team-b-prod", [ACTUAL_80])
    subscribers(
        stubber, "team-b-prod", ACTUAL_80, [{"SubscriptionType": "EMAIL", "Address": "b@example.com"}]
    )
    monkeypatch.setattr(AwsClients, "budgets", lambda self: stubbed)
    result = CliRunner().invoke(
        cli, ["budgets", "check", "--config", str(write_config(tmp_path, topic)), "--json"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["notifications"] == [
        {
            "budget": "team-a-prod",
            "notification": "ACTUAL > 80.0%",
            "topics": [topic],
            "accepted_by": ["/budget"],
        },
        {"budget": "team-b-prod", "notification": "ACTUAL > 80.0%", "topics": [], "accepted_by": []},
    ]


def test_connect_command_uses_the_callers_account(
    topic: str, budgets: tuple[Any, Stubber], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stubbed, stubber = budgets
    notifications(stubber, "team-a-prod", [ACTUAL_80])
    subscribers(stubber, "team-a-prod", ACTUAL_80, [{"SubscriptionType": "SNS", "Address": topic}])
    monkeypatch.setattr(AwsClients, "budgets", lambda self: stubbed)
    args = ["budgets", "connect", "--config", str(write_config(tmp_path, topic)), "--budget", "team-a-prod"]
    result = CliRunner().invoke(cli, [*args, "--topic", topic])
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == "team-a-prod: topic policy: allow budgets.amazonaws.com to publish (this account only)\n"
    )
    assert "aws:SourceAccount" in json.dumps(topic_policy(topic))


def test_connect_refuses_a_bad_account_and_topic(topic: str, tmp_path: Path) -> None:
    config = str(write_config(tmp_path, topic))
    bad_account = CliRunner().invoke(
        cli, ["budgets", "connect", "--config", config, "--budget", "b", "--topic", topic, "--account", "12"]
    )
    assert bad_account.exit_code == 2
    assert "12-digit" in bad_account.output
    bad_topic = CliRunner().invoke(
        cli, ["budgets", "connect", "--config", config, "--budget", "b", "--topic", "x"]
    )
    assert bad_topic.exit_code == 2
    assert "SNS topic ARN" in bad_topic.output
