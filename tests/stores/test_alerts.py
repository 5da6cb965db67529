"""Every alert kind, on SQLite and PostgreSQL, delivered as e-mail to a file outbox: it opens
once, reminds after renotify, survives a restart without being sent again, and resolves once."""

from __future__ import annotations

import contextlib
import email
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.alerts import AlertEvaluator, AlertKind, AlertNotice, AlertSettings
from sns_subscriber.service.alerting import destinations, fan_out
from sns_subscriber.service.config import load_config
from sns_subscriber.stores import InboxStore, SubscriptionEvent, SubscriptionState
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples

from ..support.clock import FakeClock
from ..support.smtp_server import Mailbox
from ..support.stores import TCPProxy, message
from .conftest import StoreFactory

ENDPOINT = "/budget-subscriber"
RENOTIFY = timedelta(hours=4)


def outbox_config(outbox: Path, **alerts: Any) -> Any:
    return load_config(
        data={
            "email": {"backend": "file", "outbox_dir": str(outbox)},
            "alerts": {"to": ["email:ops@example.com"], **alerts},
            "endpoints": [{"path": ENDPOINT, "topics": ["arn:aws:sns:eu-west-1:123456789012:budgets"]}],
        },
        environ={},
    )


def mails(outbox: Path) -> list[Message]:
    if not outbox.exists():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]


def subjects(outbox: Path) -> list[str]:
    return [" ".join(str(m["Subject"]).split()) for m in mails(outbox)]


def sns_body(message_id: str, sent: Any) -> bytes:
    stamp = sent.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return json.dumps({"Type": "Notification", "MessageId": message_id, "Timestamp": stamp}).encode()


@dataclass
class Scenario:
    kind: AlertKind
    key: str
    start: Callable[[InboxStore, FakeClock], None]
    stop: Callable[[InboxStore, FakeClock], None]


def _dead_start(store: InboxStore, clock: FakeClock) -> None:
    store.add(
        message(
            "00000000-0000-4000-8000-0000000dead1",
            body=sns_body("00000000-0000-4000-8000-0000000dead1", clock()),
        )
    )
    store.claim("w", limit=1)
    store.fail("00000000-0000-4000-8000-0000000dead1", "w", error="SMTPRecipientsRefused: 550 no such user")


def _dead_stop(store: InboxStore, clock: FakeClock) -> None:
    assert store.replay("00000000-0000-4000-8000-0000000dead1")
    store.claim("w", limit=1)
    store.complete("00000000-0000-4000-8000-0000000dead1", "w")


def _silence_start(store: InboxStore, clock: FakeClock) -> None:
    clock.advance(hours=2)  # expect_within is 1 h; nothing arrived


def _silence_stop(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("news", body=sns_body("news", clock())))
    store.claim("w", limit=1)
    store.complete("news", "w")


def _lag_start(store: InboxStore, clock: FakeClock) -> None:
    late = f"late-{clock().timestamp():.0f}"
    store.add(message(late, body=sns_body(late, clock() - timedelta(minutes=40))))
    store.claim("w", limit=1)
    store.complete(late, "w")


def _lag_stop(store: InboxStore, clock: FakeClock) -> None:
    clock.advance(minutes=16)  # the late message leaves the 15-minute window
    store.add(message("on-time", body=sns_body("on-time", clock())))
    store.claim("w", limit=1)
    store.complete("on-time", "w")


def _probes_start(store: InboxStore, clock: FakeClock) -> None:
    store.add_signature_failures(ENDPOINT, clock().replace(second=0, microsecond=0), 25)


def _probes_stop(store: InboxStore, clock: FakeClock) -> None:
    clock.advance(minutes=11)


def _pending_start(store: InboxStore, clock: FakeClock) -> None:
    store.record_subscription(
        SubscriptionEvent(
            topic_arn="arn:aws:sns:eu-west-1:123456789012:budgets",
            endpoint=ENDPOINT,
            state=SubscriptionState.PENDING,
            message_id="confirm-1",
            token="t",
            subscribe_url="https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        )
    )
    clock.advance(minutes=61)


def _pending_stop(store: InboxStore, clock: FakeClock) -> None:
    store.record_subscription(
        SubscriptionEvent(
            topic_arn="arn:aws:sns:eu-west-1:123456789012:budgets",
            endpoint=ENDPOINT,
            state=SubscriptionState.CONFIRMED,
            message_id="confirm-1",
        )
    )


def _stalled_start(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("waiting", body=sns_body("waiting", clock())))
    clock.advance(minutes=6)


def _stalled_stop(store: InboxStore, clock: FakeClock) -> None:
    store.claim("w", limit=10)


SCENARIOS = [
    Scenario(AlertKind.DEAD_LETTER, "00000000-0000-4000-8000-0000000dead1", _dead_start, _dead_stop),
    Scenario(AlertKind.SILENCE, ENDPOINT, _silence_start, _silence_stop),
    Scenario(AlertKind.LAG, ENDPOINT, _lag_start, _lag_stop),
    Scenario(AlertKind.SIGNATURE_FAILURES, ENDPOINT, _probes_start, _probes_stop),
    Scenario(
        AlertKind.PENDING_SUBSCRIPTION,
        f"{ENDPOINT} arn:aws:sns:eu-west-1:123456789012:budgets",
        _pending_start,
        _pending_stop,
    ),
    Scenario(AlertKind.WORKER_STALLED, "inbox", _stalled_start, _stalled_stop),
]


def settings(kind: AlertKind) -> AlertSettings:
    return AlertSettings(
        enabled=frozenset({kind}),
        renotify=RENOTIFY,
        expect_within={ENDPOINT: timedelta(hours=1)},
        max_lag={ENDPOINT: timedelta(seconds=60)},
        replay_command="sns-subscriber inbox replay {message_id} --config /etc/sns-subscriber.toml",
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.kind.value for s in SCENARIOS])
def test_alert_opens_once_reminds_survives_a_restart_and_resolves(
    scenario: Scenario, make_store: StoreFactory, clock: FakeClock, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    closers: list[Callable[[], None]] = []
    notify = fan_out(destinations(outbox_config(outbox), closers))
    store = make_store()
    evaluator = AlertEvaluator(store, settings(scenario.kind), notify, clock=clock)
    assert evaluator.evaluate() == []  # nothing wrong yet
    scenario.start(store, clock)
    opened = evaluator.evaluate()
    assert [(n.kind, n.key, n.phase) for n in opened] == [(scenario.kind, scenario.key, "opened")]
    assert evaluator.evaluate() == []  # once
    assert len(mails(outbox)) == 1
    first = mails(outbox)[0]
    assert first["To"] == "ops@example.com" and " ".join(str(first["Subject"]).split()).startswith(
        "[sns-subscriber] ALERT"
    )
    # A restart (new store connection, new evaluator) does not send it again.
    store = make_store()
    evaluator = AlertEvaluator(store, settings(scenario.kind), notify, clock=clock)
    evaluator.started_at = clock() - timedelta(days=1)  # a restart long after the silence began
    assert evaluator.evaluate() == []
    clock.advance(RENOTIFY.total_seconds() + 1)
    if scenario.kind is AlertKind.SIGNATURE_FAILURES:
        _probes_start(store, clock)  # the probing goes on
    if scenario.kind is AlertKind.LAG:
        _lag_start(store, clock)  # SNS is still late
    reminders = evaluator.evaluate()
    assert [n.phase for n in reminders] == ["reminder"]
    assert evaluator.evaluate() == []
    scenario.stop(store, clock)
    resolved = evaluator.evaluate()
    assert [(n.key, n.phase) for n in resolved] == [(scenario.key, "resolved")]
    assert evaluator.evaluate() == []
    assert [s.split(":")[0] for s in subjects(outbox)] == [
        "[sns-subscriber] ALERT",
        "[sns-subscriber] STILL OPEN",
        "[sns-subscriber] RESOLVED",
    ]
    assert store.list_alerts(open_only=True) == []
    for close in closers:
        close()


def test_a_dead_letter_alert_names_the_message_producer_error_and_replay_command(
    make_store: StoreFactory, clock: FakeClock, sns_kit: SNSTestKit
) -> None:
    sent: list[AlertNotice] = []
    store = make_store()
    fields = sns_kit.notification(
        TEST_TOPIC_ARN, samples.budget_alert()[1], message_id="00000000-0000-4000-8000-0000000dead1"
    )
    store.add(message("00000000-0000-4000-8000-0000000dead1", body=sns_kit.body(fields)))
    store.claim("w", limit=1)
    store.fail("00000000-0000-4000-8000-0000000dead1", "w", error="SMTPRecipientsRefused: 550 no such user")
    AlertEvaluator(store, settings(AlertKind.DEAD_LETTER), sent.append, clock=clock).evaluate()
    (notice,) = sent
    assert "00000000-0000-4000-8000-0000000dead1" in notice.detail and ENDPOINT in notice.detail
    assert "Producer: budgets" in notice.detail
    assert "SMTPRecipientsRefused: 550 no such user" in notice.detail
    assert (
        "sns-subscriber inbox replay 00000000-0000-4000-8000-0000000dead1 --config /etc/sns-subscriber.toml"
        in notice.detail
    )


def test_an_unsent_notification_is_sent_at_the_next_evaluation(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    sent: list[AlertNotice] = []
    failing = {"on": True}

    def notify(notice: AlertNotice) -> None:
        if failing["on"]:
            raise OSError("SMTP server down")
        sent.append(notice)

    store = make_store()
    _stalled_start(store, clock)
    evaluator = AlertEvaluator(store, settings(AlertKind.WORKER_STALLED), notify, clock=clock)
    assert evaluator.evaluate() == []
    failing["on"] = False
    clock.advance(30)
    assert [n.phase for n in evaluator.evaluate()] == ["reminder"]
    assert evaluator.evaluate() == []


def test_alerts_reach_a_real_smtp_server(make_store: StoreFactory, clock: FakeClock, tmp_path: Path) -> None:
    with Mailbox() as mailbox:
        config = load_config(
            data={
                "email": {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": mailbox.port},
                "alerts": {"to": ["email:ops@example.com"]},
                "endpoints": [{"path": ENDPOINT, "topics": ["arn:aws:sns:eu-west-1:123456789012:budgets"]}],
            },
            environ={},
        )
        closers: list[Callable[[], None]] = []
        store = make_store()
        _dead_start(store, clock)
        evaluator = AlertEvaluator(
            store, settings(AlertKind.DEAD_LETTER), fan_out(destinations(config, closers)), clock=clock
        )
        evaluator.evaluate()
        evaluator.evaluate()
        mailbox.wait_for(1)
        for close in closers:
            close()
        assert len(mailbox.messages) == 1
        assert "dead letter: 00000000-0000-4000-8000-0000000dead1" in " ".join(
            str(mailbox.messages[0]["Subject"]).split()
        )
        assert mailbox.envelopes[0][1] == ["ops@example.com"]


# -- store errors (in memory: the store is what fails) ------------------------------------------


@pytest.mark.postgres
def test_store_errors_open_remind_and_resolve(postgres_url: str, schema_name: str, clock: FakeClock) -> None:
    from sns_subscriber.stores import open_store

    target = _pg_address(postgres_url)
    proxy = TCPProxy(target).start()
    url = postgres_url.replace(f"{target[0]}:{target[1]}", f"127.0.0.1:{proxy.port}")
    store = open_store(url, schema=schema_name, clock=clock, connect_timeout=1.0, reconnect_timeout=0.5)
    sent: list[AlertNotice] = []
    evaluator = AlertEvaluator(
        store,
        AlertSettings(enabled=frozenset({AlertKind.STORE_ERRORS}), renotify=RENOTIFY),
        sent.append,
        clock=clock,
    )
    try:
        assert evaluator.evaluate() == []
        proxy.stop()
        assert evaluator.evaluate() == []  # failing for less than a minute
        clock.advance(61)
        assert [n.phase for n in evaluator.evaluate()] == ["opened"]
        clock.advance(30)
        assert evaluator.evaluate() == []
        clock.advance(RENOTIFY.total_seconds())
        assert [n.phase for n in evaluator.evaluate()] == ["reminder"]
        proxy.start()  # the same port again
        deadline = time.monotonic() + 20
        notices: list[AlertNotice] = []
        while time.monotonic() < deadline and not notices:
            notices = evaluator.evaluate()
            time.sleep(0.2)
        assert [n.phase for n in notices] == ["resolved"]
        assert [n.kind for n in sent] == [AlertKind.STORE_ERRORS] * 3
    finally:
        store.close()
        proxy.stop()


def _pg_address(url: str) -> tuple[str, int]:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    return str(info.get("host", "127.0.0.1")), int(str(info.get("port", 5432)))


# -- several processes on one PostgreSQL database -----------------------------------------------

SCRIPT = Path(__file__).parent.parent / "support" / "alert_process.py"


@pytest.mark.postgres
def test_two_processes_never_send_the_same_alert_twice(
    postgres_url: str, schema_name: str, tmp_path: Path
) -> None:
    """Two evaluator processes on one database evaluate every kind in a tight loop for 3 s, with
    reminders due every half second: each kind opens exactly once between them, and no
    notification (opening or reminder number n) of an alert is ever sent by both."""
    from datetime import UTC, datetime

    from sns_subscriber.stores import open_store

    now = datetime.now(UTC)
    past = FakeClock(now - timedelta(hours=2))
    store = open_store(postgres_url, schema=schema_name, clock=past)
    try:
        _dead_start(store, past)  # dead letter
        _pending_start(store, past)  # pending since 2 h ago
        store.add(message("waiting", body=sns_body("waiting", past())))  # stalled 2 h
        store.add_signature_failures(ENDPOINT, now.replace(second=0, microsecond=0), 25)  # probing
    finally:
        store.close()
    with contextlib.closing(open_store(postgres_url, schema=schema_name)) as live:
        live.add(message("late", body=sns_body("late", now - timedelta(minutes=40))))  # SNS late
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent.parent)}
    processes = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), postgres_url, schema_name, str(tmp_path / f"outbox-{n}"), "3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output.decode()
    sent = mails(tmp_path / "outbox-0") + mails(tmp_path / "outbox-1")
    openings = sorted(
        " ".join(str(m["Subject"]).split())
        for m in sent
        if " ".join(str(m["Subject"]).split()).startswith("[sns-subscriber] ALERT")
    )
    assert [subject.split(": ")[1] for subject in openings] == sorted(
        ["dead letter", "endpoint silent", "SNS delivering late", "signature failures", "subscription pending",
         "worker stalled"]
    )  # fmt: skip
    numbered = [
        (
            " ".join(str(m["Subject"]).split()).split(": ", 1)[1],
            str(m.get_payload()).rsplit("notification ", 1)[1].strip(" )\n"),
        )
        for m in sent
    ]
    assert len(numbered) == len(set(numbered)), numbered  # no notification sent twice
    assert len(numbered) > len(openings)  # reminders were sent (and raced for)


def test_an_evaluator_that_has_not_watched_long_enough_leaves_a_silence_alert_open(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """A second process starts while an endpoint is silent: it cannot judge the silence yet and
    must not resolve the alert the first process opened (which would then open it again)."""
    sent: list[AlertNotice] = []
    first = AlertEvaluator(make_store(), settings(AlertKind.SILENCE), sent.append, clock=clock)
    clock.advance(hours=2)
    assert [n.phase for n in first.evaluate()] == ["opened"]
    second = AlertEvaluator(make_store(), settings(AlertKind.SILENCE), sent.append, clock=clock)
    assert second.evaluate() == []
    assert first.evaluate() == []
    assert len(sent) == 1


def test_dead_letters_beyond_one_rounds_limit_stay_open(make_store: StoreFactory, clock: FakeClock) -> None:
    sent: list[AlertNotice] = []
    store = make_store()
    _dead_start(store, clock)
    AlertEvaluator(store, settings(AlertKind.DEAD_LETTER), sent.append, clock=clock).evaluate()
    clock.advance(10)
    store.add(message("00000000-0000-4000-8000-0000000dead2"))
    store.claim("w", limit=1)
    store.fail("00000000-0000-4000-8000-0000000dead2", "w", error="boom")
    narrow = AlertSettings(enabled=frozenset({AlertKind.DEAD_LETTER}), dead_letter_limit=1)
    assert [(n.key, n.phase) for n in AlertEvaluator(store, narrow, sent.append, clock=clock).evaluate()] == [
        ("00000000-0000-4000-8000-0000000dead2", "opened")
    ]
    assert {a.key for a in store.list_alerts()} == {
        "00000000-0000-4000-8000-0000000dead1",
        "00000000-0000-4000-8000-0000000dead2",
    }


def test_a_message_after_a_restart_resolves_the_silence_at_once(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    sent: list[AlertNotice] = []
    store = make_store()
    first = AlertEvaluator(store, settings(AlertKind.SILENCE), sent.append, clock=clock)
    clock.advance(hours=2)
    first.evaluate()
    restarted = AlertEvaluator(make_store(), settings(AlertKind.SILENCE), sent.append, clock=clock)
    _silence_stop(store, clock)
    assert [n.phase for n in restarted.evaluate()] == ["resolved"]


def test_a_failed_confirmation_left_alone_is_a_pending_subscription(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    sent: list[AlertNotice] = []
    store = make_store()
    store.record_subscription(
        SubscriptionEvent(
            topic_arn="arn:aws:sns:eu-west-1:123456789012:budgets",
            endpoint=ENDPOINT,
            state=SubscriptionState.FAILED,
            message_id="confirm-2",
            detail="ConfirmSubscription: AccessDenied",
        )
    )
    clock.advance(minutes=61)
    AlertEvaluator(store, settings(AlertKind.PENDING_SUBSCRIPTION), sent.append, clock=clock).evaluate()
    (notice,) = sent
    assert "confirmation failed (ConfirmSubscription: AccessDenied)" in notice.detail
