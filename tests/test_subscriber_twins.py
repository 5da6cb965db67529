"""The same scenarios, log lines included, on both twins: ``Subscriber`` and ``AsyncSubscriber``.

They once drifted (only the sync twin logged a pending or confirmed subscription, so ``serve``
never told the operator that a subscription waited); now they share one flow, and these tests
hold them to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.confirmation import ConfirmResult
from sns_subscriber.exceptions import ConfirmationError
from sns_subscriber.messages import SubscriptionConfirmation
from sns_subscriber.routing import Router
from sns_subscriber.stores import InboxStatus, InboxStore, SubscriptionState
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit
from sns_subscriber.worker import Worker

from .support.pipeline import TWINS, Twin, post, sqlite_store


class ScriptedConfirmer:
    """Answers from a script (a result or an exception per call) and counts the calls."""

    def __init__(self, *answers: ConfirmResult | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[SubscriptionConfirmation] = []

    def confirm(self, message: SubscriptionConfirmation) -> ConfirmResult:
        self.calls.append(message)
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


CONFIRMED = ConfirmResult(True, f"{TEST_TOPIC_ARN}:abc", "url")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    store = sqlite_store(tmp_path)
    yield store
    store.close()


@pytest.fixture(params=TWINS)
def twin_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_twin(
    twin_kind: str, sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> Iterator[Callable[..., Twin]]:
    made: list[Twin] = []

    def make(**options: Any) -> Twin:
        made.append(Twin(twin_kind, sns_kit, store, tmp_path, **options))
        return made[-1]

    yield make
    for twin in made:
        twin.close()


def _lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == level and r.name.startswith("sns_subscriber")
    ]


def test_notification_accepted_then_duplicate(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore
) -> None:
    twin = make_twin()
    fields = sns_kit.notification(TEST_TOPIC_ARN, "hello")
    assert twin.handle(post(fields)).result == "accepted"
    assert twin.handle(post(fields)).result == "duplicate"
    assert store.counts()[InboxStatus.RECEIVED] == 1


def test_confirmed_subscription_is_logged(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "sns_subscriber")
    confirmer = ScriptedConfirmer(CONFIRMED)
    outcome = make_twin(confirmer=confirmer).handle(post(sns_kit.subscription_confirmation()))
    assert (outcome.status, outcome.result) == (200, "confirmed")
    assert len(confirmer.calls) == 1
    [event] = store.list_subscriptions()
    assert (event.state, event.subscription_arn) == (SubscriptionState.CONFIRMED, f"{TEST_TOPIC_ARN}:abc")
    assert f"confirmed subscription of /sns to {TEST_TOPIC_ARN} via url" in _lines(caplog, logging.INFO)


def test_pending_subscription_tells_the_operator_what_to_run(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = make_twin().handle(post(sns_kit.subscription_confirmation()))  # manual by default
    assert (outcome.status, outcome.result) == (200, "pending")
    [event] = store.list_subscriptions()
    assert event.state == SubscriptionState.PENDING
    [line] = _lines(caplog, logging.WARNING)
    assert f"subscription of /sns to {TEST_TOPIC_ARN} is pending" in line
    assert f"sns-subscriber subscriptions confirm {event.id}" in line


def test_failed_confirmation_is_retried_and_recorded_once(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore
) -> None:
    confirmer = ScriptedConfirmer(ConfirmationError("SNS unreachable"), ConfirmationError("still"), CONFIRMED)
    twin = make_twin(confirmer=confirmer)
    fields = sns_kit.subscription_confirmation()
    assert twin.handle(post(fields)).status == 503
    assert twin.handle(post(fields)).status == 503  # SNS retries the same message
    assert [e.state for e in store.list_subscriptions()] == [SubscriptionState.FAILED]
    assert twin.handle(post(fields)).result == "confirmed"
    assert [e.state for e in store.list_subscriptions()] == [
        SubscriptionState.CONFIRMED,
        SubscriptionState.FAILED,
    ]
    assert len(confirmer.calls) == 3


def test_replayed_confirmation_is_neither_recorded_nor_confirmed_again(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A captured SubscriptionConfirmation replayed N times: one row, one confirmation."""
    caplog.set_level(logging.INFO, "sns_subscriber")
    confirmer = ScriptedConfirmer(CONFIRMED)
    twin = make_twin(confirmer=confirmer)
    fields = sns_kit.subscription_confirmation()
    assert twin.handle(post(fields)).result == "confirmed"
    for _ in range(5):
        again = twin.handle(post(fields))
        assert (again.status, again.result) == (200, "duplicate")
    assert len(confirmer.calls) == 1
    assert len(store.list_subscriptions()) == 1
    assert any("already handled" in line for line in _lines(caplog, logging.INFO))


def test_already_confirmed_subscription_is_never_confirmed_again(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore, caplog: pytest.LogCaptureFixture
) -> None:
    confirmer = ScriptedConfirmer(CONFIRMED)
    twin = make_twin(confirmer=confirmer)
    assert twin.handle(post(sns_kit.subscription_confirmation())).result == "confirmed"
    other = sns_kit.subscription_confirmation()  # a new MessageId for the same topic and endpoint
    outcome = twin.handle(post(other))
    assert (outcome.status, outcome.result) == (200, "pending")
    assert len(confirmer.calls) == 1
    newest = store.list_subscriptions()[0]
    assert (newest.state, newest.message_id) == (SubscriptionState.PENDING, other["MessageId"])
    [line] = _lines(caplog, logging.WARNING)
    assert "already confirmed" in line and f"subscriptions confirm {newest.id}" in line
    assert twin.handle(post(sns_kit.subscription_confirmation())).result == "pending"
    assert len(confirmer.calls) == 1


def test_unsubscribe_recorded_once_then_a_new_subscription_is_confirmed(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore, caplog: pytest.LogCaptureFixture
) -> None:
    confirmer = ScriptedConfirmer(CONFIRMED)
    twin = make_twin(confirmer=confirmer)
    assert twin.handle(post(sns_kit.subscription_confirmation())).result == "confirmed"
    gone = sns_kit.unsubscribe_confirmation()
    assert twin.handle(post(gone)).result == "unsubscribed"
    assert twin.handle(post(gone)).result == "duplicate"
    assert [e.state for e in store.list_subscriptions()] == [
        SubscriptionState.UNSUBSCRIBED,
        SubscriptionState.CONFIRMED,
    ]
    assert any("unsubscribed from" in line for line in _lines(caplog, logging.WARNING))
    assert twin.handle(post(sns_kit.subscription_confirmation())).result == "confirmed"
    assert len(confirmer.calls) == 2


def test_inline_failure_is_logged_and_the_message_kept(
    make_twin: Callable[..., Twin], sns_kit: SNSTestKit, store: InboxStore, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenWorker(Worker):
        def run_once(self) -> int:
            raise RuntimeError("handler crashed")

    fields = sns_kit.notification()
    outcome = make_twin(worker=BrokenWorker(store, Router())).handle(post(fields))
    assert (outcome.status, outcome.result) == (200, "accepted")
    assert store.get(fields["MessageId"]) is not None
    assert f"inline processing of {fields['MessageId']} failed; it stays in the inbox" in _lines(
        caplog, logging.ERROR
    )
