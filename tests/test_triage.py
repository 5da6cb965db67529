"""Producer test events are set aside as ``test``; CloudWatch state changes older than the newest
processed are ``stale``; an OK after an ALARM reaches actions as a resolution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sns_subscriber.actions.slack import summary
from sns_subscriber.actions.webhook import event_payload
from sns_subscriber.delivery import Delivery
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


@pytest.fixture
def seen() -> list[Delivery]:
    return []


@pytest.fixture
def worker(store: InboxStore, seen: list[Delivery]) -> Worker:
    router = Router()
    router.add(seen.append, name="record")
    return Worker(store, router, retry=RetryPolicy(max_attempts=1))


def accept(
    kit: SNSTestKit, store: InboxStore, tmp_path: Path, message: str, subject: str | None = None
) -> str:
    fields = kit.notification(TEST_TOPIC_ARN, message, subject=subject)
    assert make_subscriber(kit, store, tmp_path).handle(post(fields)).result == "accepted"
    return str(fields["MessageId"])


S3_TEST_EVENT = json.dumps(
    {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-03-01T12:00:00.000Z",
        "Bucket": "uploads",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
)
SES_SUBSCRIBED = json.dumps(
    {
        "notificationType": "AmazonSnsSubscriptionSucceeded",
        "message": "You have successfully subscribed your Amazon SNS topic 'arn:aws:sns:us-east-1:"
        "123456789012:ses' to receive 'Bounce' notifications from Amazon SES for identity 'example.com'.",
    }
)


@pytest.mark.parametrize(
    ("subject", "message", "name"),
    [
        pytest.param(*samples.topic_verified(), "Budgets", id="budgets-topic-verified"),
        pytest.param(None, S3_TEST_EVENT, "s3:TestEvent", id="s3-test-event"),
        pytest.param(None, SES_SUBSCRIBED, "AmazonSnsSubscriptionSucceeded", id="ses-subscription-succeeded"),
        pytest.param(
            None,
            "Successfully validated SNS topic for Amazon SES event publishing.",
            "event publishing",
            id="ses-event-publishing",
        ),
    ],
)
def test_producer_test_events_are_recorded_as_test_and_run_nothing(
    sns_kit: SNSTestKit,
    store: InboxStore,
    worker: Worker,
    seen: list[Delivery],
    tmp_path: Path,
    subject: str | None,
    message: str,
    name: str,
) -> None:
    message_id = accept(sns_kit, store, tmp_path, message, subject)
    assert worker.drain() == 1
    record = store.get(message_id)
    assert record is not None and record.status is InboxStatus.TEST
    assert record.last_error is not None and name in record.last_error
    assert seen == []
    assert worker.drain() == 0  # never retried


def alarm_message(state: str, old: str, changed: datetime, name: str = "high-cpu") -> tuple[str, str]:
    subject, text = samples.cloudwatch_alarm(name=name, new_state=state, old_state=old)
    payload = json.loads(text)
    payload["StateChangeTime"] = changed.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    return subject, json.dumps(payload)


def test_an_alarm_change_older_than_the_last_processed_is_stale(
    sns_kit: SNSTestKit, store: InboxStore, worker: Worker, seen: list[Delivery], tmp_path: Path
) -> None:
    """SNS delivered the OK (10:05) before the ALARM (10:01) it ends: the late ALARM must not page
    anyone for a problem that is already over."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    ok = accept(sns_kit, store, tmp_path, *reversed(alarm_message("OK", "ALARM", t0 + timedelta(minutes=5))))
    assert worker.drain() == 1
    late = accept(
        sns_kit, store, tmp_path, *reversed(alarm_message("ALARM", "OK", t0 + timedelta(minutes=1)))
    )
    assert worker.drain() == 1
    assert [d.message_id for d in seen] == [ok]
    record = store.get(late)
    assert record is not None and record.status is InboxStatus.STALE
    assert record.last_error is not None and "high-cpu" in record.last_error
    other = accept(
        sns_kit, store, tmp_path, *reversed(alarm_message("ALARM", "OK", t0 + timedelta(minutes=1), "disk"))
    )
    assert worker.drain() == 1
    assert [d.message_id for d in seen] == [ok, other]  # another alarm is tracked on its own


def test_ok_after_alarm_reaches_actions_as_a_resolution(
    sns_kit: SNSTestKit, store: InboxStore, worker: Worker, seen: list[Delivery], tmp_path: Path
) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    accept(sns_kit, store, tmp_path, *reversed(alarm_message("ALARM", "OK", t0)))
    accept(sns_kit, store, tmp_path, *reversed(alarm_message("OK", "ALARM", t0 + timedelta(minutes=5))))
    assert worker.drain() == 2
    alarm, resolved = seen
    assert not alarm.resolution and resolved.resolution
    assert "*ALARM*" in summary(alarm) and "Resolved" not in summary(alarm)
    assert "*Resolved*" in summary(resolved) and "high-cpu" in summary(resolved)
    assert event_payload(resolved)["resolution"] is True
    assert event_payload(alarm)["resolution"] is False


def test_ok_after_a_processed_alarm_is_a_resolution_even_if_the_message_says_otherwise(
    sns_kit: SNSTestKit, store: InboxStore, worker: Worker, seen: list[Delivery], tmp_path: Path
) -> None:
    """An INSUFFICIENT_DATA change in between was lost: the OK still ends the ALARM we saw."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    accept(sns_kit, store, tmp_path, *reversed(alarm_message("ALARM", "OK", t0)))
    accept(
        sns_kit,
        store,
        tmp_path,
        *reversed(alarm_message("OK", "INSUFFICIENT_DATA", t0 + timedelta(minutes=9))),
    )
    assert worker.drain() == 2
    assert [d.resolution for d in seen] == [False, True]
