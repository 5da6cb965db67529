"""Budget alerts posted to the Slack (or Teams) channels named by the budget's slack tag."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sns_subscriber.actions import ConfigOwnerResolver
from sns_subscriber.actions.budget_slack import BudgetSlackAction
from sns_subscriber.actions.budget_tags import BudgetTagOwners
from sns_subscriber.actions.webhook import WebhookAction
from sns_subscriber.delivery import SKIPPED

from ..support.webhook_server import ChatWebhook
from .conftest import Ledger, make_delivery

ARN = "arn:aws:budgets::123456789012:budget/team-a-prod"


@pytest.fixture
def stubbed() -> Iterator[tuple[BudgetTagOwners, Stubber]]:
    client = boto3.client(
        "budgets", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    with Stubber(client) as stubber:
        yield BudgetTagOwners(lambda: client, ConfigOwnerResolver([]), owner_tag="owner"), stubber


def tags(stubber: Stubber, **values: str) -> None:
    stubber.add_response(
        "list_tags_for_resource",
        {"ResourceTags": [{"Key": k, "Value": v} for k, v in values.items()]},
        {"ResourceARN": ARN},
    )


def test_alert_goes_to_the_channels_the_tag_names_once_each(
    stubbed: tuple[BudgetTagOwners, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    reader, stubber = stubbed
    tags(stubber, slack="team-a, finops-teams unknown-hook")
    with ChatWebhook() as slack, ChatWebhook() as teams, ChatWebhook() as other:
        destinations = {
            "team-a": WebhookAction(slack.url, format="slack"),
            "finops-teams": WebhookAction(teams.url, format="teams"),
            "other": WebhookAction(other.url, format="slack"),
        }
        action = BudgetSlackAction(reader, "slack", destinations)
        ledger = Ledger()
        with caplog.at_level(logging.WARNING, logger="sns_subscriber.actions.budget_slack"):
            assert action(make_delivery(ledger=ledger)) is None
            action(make_delivery(ledger=ledger))  # redelivered: no second post (tags cached too)
    [posted] = slack.accepted
    assert posted["blocks"][0]["text"]["text"] == (
        ":money_with_wings: *AWS budget team-a-prod: actual $95.12 passed 90% of $100.00*"
    )
    [card] = teams.accepted
    assert card["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert other.accepted == []
    assert "'unknown-hook', which is no [[webhooks]] entry" in caplog.text


def test_tag_cannot_name_a_url(stubbed: tuple[BudgetTagOwners, Stubber]) -> None:
    """Attack: a budget tagged with a URL would make the service POST wherever the tag says.
    Only names of configured webhooks are used."""
    reader, stubber = stubbed
    with ChatWebhook() as evil:
        tags(stubber, slack=evil.url)
        assert BudgetSlackAction(reader, "slack", {})(make_delivery()) is SKIPPED
    assert evil.requests == 0


def test_unreadable_tags_skip_and_say_why(
    stubbed: tuple[BudgetTagOwners, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    reader, stubber = stubbed
    stubber.add_client_error(
        "list_tags_for_resource", service_error_code="AccessDeniedException", http_status_code=400
    )
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.actions.budget_slack"):
        assert BudgetSlackAction(reader, "slack", {})(make_delivery()) is SKIPPED
    assert "cannot read the slack tag of budget 'team-a-prod'" in caplog.text


def test_configured_budget_slack_action_shares_the_tag_cache() -> None:
    from sns_subscriber.exceptions import ConfigurationError
    from sns_subscriber.service.actions import make_action
    from sns_subscriber.service.config import load_config

    data: dict[str, Any] = {
        "email": {"backend": "console", "fallback": ["finance@example.com"]},
        "budgets": {"owner_tag": "owner", "slack_tag": "slack"},
        "webhooks": [{"name": "team-a", "url": "https://hooks.example.invalid/x", "format": "slack"}],
    }
    config = load_config(data=data, environ={})
    cache: dict[str, Any] = {}
    slack = make_action("budget-slack", config, cache, [])
    email = make_action("budget-email", config, cache, [])
    assert isinstance(slack, BudgetSlackAction)
    assert list(slack.destinations) == ["team-a"]
    resolver = email.resolver  # type: ignore[attr-defined]
    assert isinstance(resolver, BudgetTagOwners)
    assert resolver._cache is slack.tags._cache  # one ListTagsForResource per budget for both
    assert [r.email for r in resolver.fallback.fallback] == ["finance@example.com"]
    del data["budgets"]["slack_tag"]
    with pytest.raises(ConfigurationError, match="slack_tag"):
        make_action("budget-slack", load_config(data=data, environ={}), {}, [])
