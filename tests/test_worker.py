"""Worker: handlers run once per message, failures retry with backoff, then dead; replays."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sns_subscriber.delivery import Delivery
from sns_subscriber.producers import BudgetAlert, CloudWatchAlarm, UnknownPayload
from sns_subscriber.routing import Router
from sns_subscriber.stores import InboxStatus, InboxStore
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples
from sns_subscriber.worker import RetryPolicy, Worker

from .support.pipeline import make_subscriber, post, sqlite_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    store = sqlite_store(tmp_path)
    yield store
    store.close()


def accept(
    kit: SNSTestKit, store: InboxStore, tmp_path: Path, message: str, subject: str | None = None
) -> str:
    fields = kit.notification(TEST_TOPIC_ARN, message, subject=subject)
    assert make_subscriber(kit, store, tmp_path).handle(post(fields)).result == "accepted"
    return str(fields["MessageId"])


def test_handlers_routed_by_producer_model(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    router = Router()
    router.add(lambda d: seen.append(("budget", d.event.budget_name)), event=BudgetAlert, name="budget")
    router.add(lambda d: seen.append(("alarm", d.event.name)), event=CloudWatchAlarm, name="alarm")
    router.add(lambda d: seen.append(("other", d.message.message)), event=UnknownPayload, name="other")
    subject, text = samples.budget_alert(budget_name="team-a-prod")
    accept(sns_kit, store, tmp_path, text, subject)
    accept(sns_kit, store, tmp_path, samples.cloudwatch_alarm(name="cpu")[1])
    accept(sns_kit, store, tmp_path, "hello")
    assert Worker(store, router).drain() == 3
    assert sorted(seen) == [("alarm", "cpu"), ("budget", "team-a-prod"), ("other", "hello")]
    assert store.counts()[InboxStatus.DONE] == 3


def test_topic_and_subject_routing(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    seen: list[str] = []
    router = Router()
    router.add(lambda d: seen.append("topic"), topic="arn:aws:sns:*:123456789012:sns-subscriber-*", name="t")
    router.add(lambda d: seen.append("subject"), subject="ALARM*", name="s")
    router.add(lambda d: seen.append("never"), topic="arn:aws:sns:*:999999999999:*", name="n")
    accept(sns_kit, store, tmp_path, "x", subject="ALARM: cpu")
    Worker(store, router).drain()
    assert sorted(seen) == ["subject", "topic"]


def test_async_handlers_run(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    seen: list[str] = []

    async def handler(delivery: Delivery) -> None:
        await asyncio.sleep(0)
        seen.append(delivery.message.message)

    router = Router()
    router.add(handler, name="async")
    accept(sns_kit, store, tmp_path, "from async")
    worker = Worker(store, router)
    worker.drain()
    worker.close()
    assert seen == ["from async"]


def test_failure_retries_with_backoff_then_dead(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    calls: list[int] = []

    def flaky(delivery: Delivery) -> None:
        calls.append(delivery.attempt)
        raise RuntimeError("SMTP down")

    router = Router()
    router.add(flaky, name="flaky")
    message_id = accept(sns_kit, store, tmp_path, "x")
    worker = Worker(store, router, retry=RetryPolicy(max_attempts=3, base_delay=0.0, jitter=0.0))
    worker.drain()
    record = store.get(message_id)
    assert record is not None
    assert (record.status, record.attempts) == (InboxStatus.DEAD, 3)
    assert record.last_error == "RuntimeError: SMTP down"
    assert calls == [1, 2, 3]


def test_retry_delay_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=5, max_delay=60, jitter=0)
    assert [policy.delay(a) for a in (1, 2, 3, 4, 5, 6)] == [5, 10, 20, 40, 60, 60]
    jittered = RetryPolicy(base_delay=10, jitter=0.25)
    assert all(7.5 <= jittered.delay(1) <= 12.5 for _ in range(50))


def test_succeeded_handler_not_repeated_when_another_fails(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    sent: list[str] = []
    failures = [True]

    def email(delivery: Delivery) -> None:
        sent.append(delivery.message_id)

    def webhook(delivery: Delivery) -> None:
        if failures.pop(0) if failures else False:
            raise ConnectionError("webhook 500")

    router = Router()
    router.add(email, name="email")
    router.add(webhook, name="webhook")
    message_id = accept(sns_kit, store, tmp_path, "x")
    actions: list[tuple[str, str]] = []
    worker = Worker(
        store,
        router,
        retry=RetryPolicy(base_delay=0.0, jitter=0.0),
        on_action=lambda name, result: actions.append((name, result)),
    )
    worker.drain()
    record = store.get(message_id)
    assert record is not None
    assert record.status == InboxStatus.DONE
    assert sent == [message_id]  # e-mail sent once although the message ran twice
    assert actions == [("email", "ok"), ("webhook", "failed"), ("email", "skipped"), ("webhook", "ok")]


def test_replay_does_not_repeat_succeeded_actions_unless_forced(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    sent: list[str] = []
    router = Router()
    router.add(lambda d: d.once("alice@example.com", lambda: sent.append("alice")), name="email")
    message_id = accept(sns_kit, store, tmp_path, "x")
    worker = Worker(store, router)
    worker.drain()
    assert store.replay(message_id)
    worker.drain()
    assert sent == ["alice"]
    store.forget_actions(message_id)
    assert store.replay(message_id)
    worker.drain()
    assert sent == ["alice", "alice"]


def test_message_without_handler_is_done(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    message_id = accept(sns_kit, store, tmp_path, "nobody listens")
    Worker(store, Router()).drain()
    record = store.get(message_id)
    assert record is not None
    assert record.status == InboxStatus.DONE


def test_forced_producer_per_endpoint(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    kinds: list[str] = []
    router = Router()
    router.add(lambda d: kinds.append(type(d.event).__name__), name="kinds")
    accept(sns_kit, store, tmp_path, samples.cloudwatch_alarm()[1])
    Worker(store, router, producers={"/sns": "s3"}).drain()
    assert kinds == ["UnknownPayload"]
