"""Typed events: `router.on(BudgetAlert)` hands the handler a `Delivery[BudgetAlert]`;
`delivery.event_as(...)` narrows elsewhere; `once_async` is the async twin of `once`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sns_subscriber.delivery import Delivery
from sns_subscriber.exceptions import ConfigurationError
from sns_subscriber.messages import Notification
from sns_subscriber.parsing import parse
from sns_subscriber.producers import BudgetAlert, CloudWatchAlarm, detect
from sns_subscriber.routing import Router
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples
from sns_subscriber.worker import Worker

from .support.pipeline import make_subscriber, post, sqlite_store


def test_router_on_event_type_hands_the_handler_that_event(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    router = Router()
    seen: list[str] = []

    @router.on(BudgetAlert)
    def email_owner(delivery: Delivery[BudgetAlert]) -> None:
        seen.append(str(delivery.event.budget_name))  # typed: no narrowing needed

    @router.on(CloudWatchAlarm)
    async def page(delivery: Delivery[CloudWatchAlarm]) -> None:
        seen.append(delivery.event.name)

    subscriber = make_subscriber(sns_kit, store, tmp_path)
    for subject, text in (samples.budget_alert(budget_name="team-b"), samples.cloudwatch_alarm(name="cpu")):
        fields = sns_kit.notification(TEST_TOPIC_ARN, text, subject=subject)
        assert subscriber.handle(post(fields)).result == "accepted"
    worker = Worker(store, router)
    assert worker.drain() == 2
    worker.close()
    store.close()
    assert sorted(seen) == ["cpu", "team-b"]


def test_router_on_takes_the_event_type_once() -> None:
    router = Router()
    with pytest.raises(ConfigurationError, match="one event type"):
        router.on(BudgetAlert, event=CloudWatchAlarm)  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="one event type"):
        router.on(BudgetAlert, CloudWatchAlarm)  # type: ignore[call-overload]


def delivery_of(kit: SNSTestKit, text: str, subject: str | None = None) -> Delivery:
    message = parse(kit.body(kit.notification(TEST_TOPIC_ARN, text, subject=subject)))
    assert isinstance(message, Notification)
    return Delivery(message=message, event=detect(message), endpoint="/sns")


def test_event_as_narrows_or_says_what_the_event_is(sns_kit: SNSTestKit) -> None:
    subject, text = samples.budget_alert(budget_name="team-a")
    delivery = delivery_of(sns_kit, text, subject)
    assert delivery.event_as(BudgetAlert).budget_name == "team-a"
    with pytest.raises(TypeError, match="carries BudgetAlert, not CloudWatchAlarm"):
        delivery.event_as(CloudWatchAlarm)


def test_once_async_runs_a_step_once_and_records_only_success(sns_kit: SNSTestKit) -> None:
    delivery = delivery_of(sns_kit, "hello")
    calls: list[str] = []

    async def send() -> str:
        calls.append("send")
        return "sent"

    def broken() -> str:
        calls.append("broken")
        raise RuntimeError("smtp down")

    async def run() -> None:
        assert await delivery.once_async("send", send) == "sent"
        assert await delivery.once_async("send", send) is None  # recorded: skipped
        assert await delivery.once_async("sync", lambda: "plain value") == "plain value"
        with pytest.raises(RuntimeError):
            await delivery.once_async("broken", broken)
        with pytest.raises(RuntimeError):
            await delivery.once_async("broken", broken)  # not recorded: runs again

    asyncio.run(run())
    assert calls == ["send", "broken", "broken"]
