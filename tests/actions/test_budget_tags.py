"""Owners from the budget's tags (ListTagsForResource, which moto lacks: botocore's Stubber with
responses shaped like the AWS Budgets API reference), the cache, and the fallbacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sns_subscriber.actions import BudgetEmailAction, BudgetOwner, ConfigOwnerResolver, Recipient
from sns_subscriber.actions.budget_tags import (
    BudgetTagOwners,
    budget_arn,
    budgets_client_factory,
    parse_addresses,
)
from sns_subscriber.delivery import SKIPPED
from sns_subscriber.routing import Router
from sns_subscriber.stores import InboxStore, NewMessage
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples
from sns_subscriber.worker import Worker

from ..support.clock import FakeClock
from ..support.pipeline import sqlite_store
from .conftest import RecordingBackend, make_alert, make_delivery

ARN = "arn:aws:budgets::123456789012:budget/team-a-prod"
FINANCE = Recipient("finance@example.com", "Finance")


def tags_response(**tags: str) -> dict[str, Any]:
    # ListTagsForResource response: {"ResourceTags": [{"Key": ..., "Value": ...}]}
    return {"ResourceTags": [{"Key": key, "Value": value} for key, value in tags.items()]}


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    budgets = boto3.client(
        "budgets", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(budgets) as stubber:
        yield budgets, stubber
        stubber.assert_no_pending_responses()


def resolver(
    client: Any, *owners: BudgetOwner, fallback: tuple[Recipient, ...] = (FINANCE,), **options: Any
) -> BudgetTagOwners:
    return BudgetTagOwners(
        lambda: client,
        ConfigOwnerResolver(owners, fallback=fallback),
        owner_tag="owner",
        cc_tag="cc",
        **options,
    )


def test_owner_tag_names_the_recipients_and_cc_tag_adds_copies(client: tuple[Any, Stubber]) -> None:
    budgets, stubber = client
    stubber.add_response(
        "list_tags_for_resource",
        tags_response(
            owner="alice@example.com, bob@example.com", cc="carol@example.com;dave@example.com", team="a"
        ),
        {"ResourceARN": ARN},
    )
    backend = RecordingBackend()
    action = BudgetEmailAction(backend, resolver(budgets), sender="alerts@example.com")
    action(make_delivery())
    assert [m["To"] for m in backend.sent] == [
        "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com",
    ]  # fmt: skip
    carol = backend.sent[2].get_body(("plain",))
    assert carol is not None
    assert 'You are in copy of the alerts of budget "team-a-prod" (its cc tag).' in carol.get_content()
    alice = backend.sent[0].get_body(("plain",))
    assert alice is not None and "You are in copy" not in alice.get_content()


def test_tags_are_cached_until_the_ttl_passes(client: tuple[Any, Stubber]) -> None:
    budgets, stubber = client
    clock = FakeClock()
    owners = resolver(budgets, ttl=600, clock=lambda: clock().timestamp())
    stubber.add_response(
        "list_tags_for_resource", tags_response(owner="alice@example.com"), {"ResourceARN": ARN}
    )
    assert [r.email for r in owners(make_alert())] == ["alice@example.com"]
    clock.advance(599)
    # The Stubber has no second response: a second AWS call here would fail the test.
    assert [r.email for r in owners(make_alert())] == ["alice@example.com"]
    stubber.assert_no_pending_responses()
    clock.advance(1)
    stubber.add_response(
        "list_tags_for_resource", tags_response(owner="bob@example.com"), {"ResourceARN": ARN}
    )
    assert [r.email for r in owners(make_alert())] == ["bob@example.com"]  # the tag changed since


def test_tag_cache_is_bounded(client: tuple[Any, Stubber]) -> None:
    """Budget names come from messages: the cache keeps at most max_entries of them."""
    budgets, stubber = client
    owners = resolver(budgets, max_entries=2)
    for name in ("a", "b", "c", "a"):  # "a" was evicted by "c": asked again
        stubber.add_response(
            "list_tags_for_resource",
            tags_response(owner=f"{name}@example.com"),
            {"ResourceARN": f"arn:aws:budgets::123456789012:budget/{name}"},
        )
    for name in ("a", "b", "c", "a"):
        assert [r.email for r in owners(make_alert(budget_name=name))] == [f"{name}@example.com"]
    assert len(owners._cache) == 2


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException", "NotFoundException"])
def test_aws_errors_fall_back_to_configured_owners_never_to_silence(
    client: tuple[Any, Stubber], code: str, caplog: pytest.LogCaptureFixture
) -> None:
    budgets, stubber = client
    stubber.add_client_error("list_tags_for_resource", service_error_code=code, http_status_code=400,
                             expected_params={"ResourceARN": ARN})  # fmt: skip
    owners = resolver(budgets, BudgetOwner(budget="team-a-*", email="owner@example.com"))
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.actions.budget_tags"):
        assert [r.email for r in owners(make_alert())] == ["owner@example.com"]
    assert "cannot read the tags of budget 'team-a-prod'" in caplog.text and code in caplog.text


def test_aws_error_and_no_owner_reaches_the_fallback_told_why(client: tuple[Any, Stubber]) -> None:
    budgets, stubber = client
    stubber.add_client_error("list_tags_for_resource", service_error_code="AccessDeniedException",
                             http_status_code=400)  # fmt: skip
    [finance] = resolver(budgets)(make_alert())
    assert finance.email == "finance@example.com"
    assert finance.reason == (
        'You receive this e-mail as a fallback recipient: no owner matched budget "team-a-prod" in AWS account '
        "123456789012 (its tags could not be read: AccessDeniedException). Name an owner for it to have its alerts "
        "reach the right people."
    )


def test_budget_without_owner_tag_uses_configured_owners(client: tuple[Any, Stubber]) -> None:
    budgets, stubber = client
    stubber.add_response("list_tags_for_resource", tags_response(team="a", owner=" , "), {"ResourceARN": ARN})
    owners = resolver(budgets, BudgetOwner(budget="*", email="ops@example.com"))
    assert [(r.email, r.reason) for r in owners(make_alert())] == [("ops@example.com", None)]


def test_unusable_addresses_in_a_tag_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.actions.budget_tags"):
        found = parse_addresses(
            "alice@example.com not-an-address bob@example.com", where="budget 'x' tag owner"
        )
    assert [r.email for r in found] == ["alice@example.com", "bob@example.com"]
    assert "not-an-address" in caplog.text
    assert parse_addresses("a@example.com " * 100, where="x") == []  # longer than an AWS tag value


@pytest.mark.parametrize(
    ("account", "name", "arn"),
    [
        ("123456789012", "team-a-prod", ARN),
        ("123456789012", "has:colon", None),
        ("123456789012", "x" * 101, None),
        ("12345", "team-a-prod", None),
        (None, "team-a-prod", None),
        ("123456789012", None, None),
    ],
)
def test_budget_arn(account: str | None, name: str | None, arn: str | None) -> None:
    assert budget_arn(account, name) == arn


def test_alert_that_cannot_name_its_budget_is_not_looked_up(client: tuple[Any, Stubber]) -> None:
    budgets, _ = client  # no response queued: any AWS call fails the test
    [finance] = resolver(budgets)(make_alert(account_id=None))
    assert finance.reason is not None and "does not name its account and budget" in finance.reason


def test_client_factory_builds_a_budgets_client() -> None:
    budgets = budgets_client_factory(region="us-east-1", endpoint_url="http://127.0.0.1:4566")()
    assert budgets.meta.service_model.service_name == "budgets"
    assert budgets.meta.endpoint_url == "http://127.0.0.1:4566"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    s = sqlite_store(tmp_path)
    yield s
    s.close()


def test_alert_reaching_nobody_counts_as_skipped_and_logs_the_budget(
    store: InboxStore, sns_kit: SNSTestKit, caplog: pytest.LogCaptureFixture
) -> None:
    subject, text = samples.budget_alert(budget_name="orphan-budget")
    fields = sns_kit.notification(TEST_TOPIC_ARN, text, subject=subject)
    store.add(NewMessage(message_id=str(fields["MessageId"]), endpoint="/budget-subscriber", topic_arn=TEST_TOPIC_ARN,
                         message_type="Notification", subject=subject, body=sns_kit.body(fields)))  # fmt: skip
    backend = RecordingBackend()
    router = Router()
    router.add(
        BudgetEmailAction(backend, ConfigOwnerResolver([]), sender="alerts@example.com"), name="budget-email"
    )
    actions: list[tuple[str, str]] = []
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.actions.budget_email"):
        Worker(store, router, on_action=lambda name, result: actions.append((name, result))).drain()
    assert actions == [("budget-email", "skipped")]
    assert backend.sent == []
    assert "budget 'orphan-budget'" in caplog.text and "reached nobody" in caplog.text


def test_nobody_returns_skipped() -> None:
    action = BudgetEmailAction(RecordingBackend(), ConfigOwnerResolver([]), sender="alerts@example.com")
    assert action(make_delivery()) is SKIPPED


def test_startup_warns_when_budget_email_can_reach_nobody(caplog: pytest.LogCaptureFixture) -> None:
    from sns_subscriber.service.actions import make_action
    from sns_subscriber.service.config import load_config

    with caplog.at_level(logging.WARNING, logger="sns_subscriber.service.actions"):
        make_action("budget-email", load_config(data={"email": {"backend": "console"}}, environ={}), {}, [])
    assert "will reach nobody" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.service.actions"):
        config = load_config(
            data={"email": {"backend": "console"}, "budgets": {"owner_tag": "owner"}}, environ={}
        )
        action = make_action("budget-email", config, {}, [])
    assert "will reach nobody" not in caplog.text
    assert isinstance(action, BudgetEmailAction) and isinstance(action.resolver, BudgetTagOwners)
