"""SQS pollers (moto): the same parse -> verify -> dedupe -> store path as an HTTP delivery, a
delete only after the commit, rejected messages left for the redrive policy, back-off on errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sns_subscriber.aws.queues import QueuePoller, SQSMessage
from sns_subscriber.cli.app import cli
from sns_subscriber.exceptions import StoreUnavailableError, TemporaryFailureError
from sns_subscriber.service.config import load_config
from sns_subscriber.service.queues import build_pollers
from sns_subscriber.service.runtime import Runtime, build_runtime
from sns_subscriber.testing import SNSTestKit

from .support.aws import client, mocked_aws

TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-elses"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mocked_aws(monkeypatch):
        yield


def make_queue(name: str = "inbox-queue") -> str:
    url: str = client("sqs").create_queue(QueueName=name)["QueueUrl"]
    return url


def write_config(tmp_path: Path, kit: SNSTestKit, queue_url: str, **queue: Any) -> Path:
    certs = kit.write_cert_dir(tmp_path / "certs")
    topics = queue.pop("topics", [TOPIC])
    options = "".join(f"{key} = {json.dumps(value)}\n" for key, value in queue.items())
    path = tmp_path / "sns-subscriber.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///inbox.db"\n[verification]\ncert_dir = "{certs}"\nfetch = false\n'
        f'[[queues]]\nurl = "{queue_url}"\ntopics = {json.dumps(topics)}\nwait_seconds = 0\n{options}'
    )
    return path


@pytest.fixture
def runtime(aws: None, tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[Runtime]:
    runtime = build_runtime(load_config(write_config(tmp_path, sns_kit, make_queue())), with_actions=False)
    yield runtime
    runtime.close()


def send(queue_url: str, body: bytes | str) -> None:
    text = body.decode() if isinstance(body, bytes) else body
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=text)


def left_in_queue(queue_url: str) -> int:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def only_poller(runtime: Runtime) -> QueuePoller:
    [poller] = build_pollers(runtime)
    poller.visibility_timeout = 0  # moto: make a message not deleted visible again at once
    return poller


def test_envelopes_are_verified_stored_and_deleted(runtime: Runtime, sns_kit: SNSTestKit) -> None:
    poller = only_poller(runtime)
    url = poller.queue_url
    bodies = [sns_kit.body(sns_kit.notification(TOPIC, f"alert {i}")) for i in range(3)]
    for body in bodies:
        send(url, body)
    assert poller.poll_once() == 3
    records = runtime.store.list_messages()
    assert sorted(r.body for r in records) == sorted(bodies)
    assert {r.endpoint for r in records} == {"sqs:inbox-queue"}
    assert not any(r.raw_delivery for r in records)
    assert left_in_queue(url) == 0
    assert (poller.status.accepted, poller.status.rejected) == (3, 0)


def test_sqs_redelivery_and_sns_duplicates_are_stored_once(runtime: Runtime, sns_kit: SNSTestKit) -> None:
    poller = only_poller(runtime)
    body = sns_kit.body(sns_kit.notification(TOPIC, "once"))
    send(poller.queue_url, body)
    send(poller.queue_url, body)  # SNS delivered it twice
    poller.poll_once()
    send(poller.queue_url, body)  # and again later (a redelivery after a lost delete)
    poller.poll_once()
    assert len(runtime.store.list_messages()) == 1
    assert (poller.status.accepted, poller.status.duplicates) == (1, 2)
    assert left_in_queue(poller.queue_url) == 0


def test_forged_signature_is_rejected_and_left_for_the_redrive_policy(
    runtime: Runtime, sns_kit: SNSTestKit
) -> None:
    """Anyone allowed to send to the queue must not get an unsigned or forged message into
    the inbox; the message stays in SQS (its DLQ takes it after maxReceiveCount)."""
    poller = only_poller(runtime)
    fields = sns_kit.notification(TOPIC, "genuine")
    fields["Message"] = "forged"
    send(poller.queue_url, sns_kit.body(fields))
    poller.poll_once()
    assert runtime.store.list_messages() == []
    assert poller.status.rejected == 1
    assert poller.status.last_rejection is not None
    assert "invalid_signature" in poller.status.last_rejection
    assert left_in_queue(poller.queue_url) == 1
    [rejection] = runtime.store.list_rejections()
    assert (rejection.source, rejection.reason.split(":")[0]) == ("sqs:inbox-queue", "invalid_signature")


@pytest.mark.parametrize(
    ("name", "body"),
    [("not json", "hello"), ("foreign topic", None), ("empty object", "{}")],
)
def test_malformed_or_foreign_messages_are_not_deleted(
    runtime: Runtime, sns_kit: SNSTestKit, name: str, body: str | None
) -> None:
    poller = only_poller(runtime)
    text = body if body is not None else sns_kit.body(sns_kit.notification(OTHER_TOPIC, "x")).decode()
    send(poller.queue_url, text)
    poller.poll_once()
    assert runtime.store.list_messages() == []
    assert poller.status.rejected == 1, name
    assert left_in_queue(poller.queue_url) == 1


def test_store_outage_keeps_the_message_in_the_queue(
    runtime: Runtime, sns_kit: SNSTestKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    poller = only_poller(runtime)
    send(poller.queue_url, sns_kit.body(sns_kit.notification(TOPIC, "later")))

    def down(_item: object) -> bool:
        raise StoreUnavailableError("database is locked")

    real_add = runtime.store.add
    monkeypatch.setattr(runtime.store, "add", down)
    with pytest.raises(TemporaryFailureError, match="stays in the queue"):
        poller.poll_once()
    assert left_in_queue(poller.queue_url) == 1
    monkeypatch.setattr(runtime.store, "add", real_add)
    poller.poll_once()
    assert len(runtime.store.list_messages()) == 1
    assert left_in_queue(poller.queue_url) == 0


def test_raw_delivery_is_stored_as_raw_under_the_sqs_message_id(
    aws: None, tmp_path: Path, sns_kit: SNSTestKit
) -> None:
    url = make_queue("raw-queue")
    runtime = build_runtime(load_config(write_config(tmp_path, sns_kit, url, raw=True)), with_actions=False)
    try:
        poller = only_poller(runtime)
        send(url, '{"budgetName": "team-a"}')
        poller.poll_once()
        [record] = runtime.store.list_messages()
        assert record.raw_delivery
        assert (record.topic_arn, record.endpoint) == (TOPIC, "sqs:raw-queue")
        assert record.body == b'{"budgetName": "team-a"}'
        assert left_in_queue(url) == 0
    finally:
        runtime.close()


def test_raw_queue_needs_exactly_one_concrete_topic(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    from sns_subscriber.exceptions import ConfigurationError

    path = write_config(
        tmp_path, sns_kit, "https://sqs.us-east-1.amazonaws.com/1/q", raw=True, topics=["arn:aws:sns:*:1:t"]
    )
    with pytest.raises(ConfigurationError, match="exactly one topic"):
        load_config(path)


class FailingClient:
    def __init__(self, stop: threading.Event, failures: int) -> None:
        self.calls = 0
        self.stop = stop
        self.failures = failures

    def receive_message(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls > self.failures:
            self.stop.set()
            return {}
        raise ConnectionError("endpoint unreachable")


def test_poller_backs_off_on_aws_errors_and_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    client = FailingClient(stop, failures=3)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()

    monkeypatch.setattr(stop, "wait", wait)
    poller = QueuePoller(client, "https://sqs.us-east-1.amazonaws.com/1/q", lambda m: None)  # type: ignore[arg-type,return-value]
    poller.run(stop)
    assert client.calls == 4
    assert len(waits) == 3
    assert waits[0] < waits[1] < waits[2] <= 60  # exponential, bounded
    status = poller.status.as_dict()
    assert (status["errors"], status["state"]) == (3, "stopped")
    assert "endpoint unreachable" in status["last_error"]


def test_handler_crash_leaves_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    deleted: list[Any] = []

    class Client:
        def receive_message(self, **_: Any) -> dict[str, Any]:
            return {"Messages": [{"MessageId": "m", "ReceiptHandle": "r", "Body": "{}"}]}

        def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
            deleted.append(kwargs)
            return {}

    def crash(_: SQSMessage) -> Any:
        raise RuntimeError("bug")

    poller = QueuePoller(Client(), "https://sqs.us-east-1.amazonaws.com/1/q", crash)
    with pytest.raises(Exception, match="stays in the queue"):
        poller.poll_once()
    assert deleted == []


def test_poll_command_once(aws: None, tmp_path: Path, sns_kit: SNSTestKit) -> None:
    url = make_queue()
    config = write_config(tmp_path, sns_kit, url)
    send(url, sns_kit.body(sns_kit.notification(TOPIC, "via the command")))
    send(url, "not sns")
    result = CliRunner().invoke(cli, ["poll", "--config", str(config), "--once"])
    assert result.exit_code == 0, result.output
    assert "inbox-queue: received 2, accepted 1, duplicates 0, rejected 1" in result.output
    listed = CliRunner().invoke(cli, ["inbox", "rejected", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.splitlines()
    rejection = json.loads(line)
    assert (rejection["source"], rejection["reason"].split(":")[0]) == ("sqs:inbox-queue", "malformed")


def test_poll_command_without_queues(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[endpoints]]\npath = "/sns"\ntopics = ["arn:aws:sns:us-east-1:1:t"]\n')
    result = CliRunner().invoke(cli, ["poll", "--config", str(path)])
    assert result.exit_code == 2
    assert "no [[queues]]" in result.output


def test_serve_runs_a_poller_per_queue_shown_in_readyz_and_metrics(
    aws: None, tmp_path: Path, sns_kit: SNSTestKit
) -> None:
    from sns_subscriber.service.app import create_app

    from .support.servers import request, serve_asgi
    from .test_service import metric

    url = make_queue()
    config = load_config(write_config(tmp_path, sns_kit, url))
    runtime = build_runtime(config, with_actions=False)
    send(url, sns_kit.body(sns_kit.notification(TOPIC, "served")))
    send(url, "not sns")
    with serve_asgi(create_app(runtime, run_worker=False)) as base:
        for _ in range(200):
            ready = json.loads(request(base + "/readyz", method="GET").body)
            [queue] = ready["queues"]
            if queue["accepted"] == 1 and queue["rejected"] >= 1:
                break
            threading.Event().wait(0.05)
        assert ready["status"] == "ready"
        assert (queue["queue"], queue["state"], queue["accepted"]) == ("inbox-queue", "polling", 1)
        text = request(base + "/metrics", method="GET").body.decode()
        assert len(runtime.store.list_messages()) == 1
    assert metric(text, "sns_queue_messages_total", queue="inbox-queue", result="accepted") == 1
    assert metric(text, "sns_queue_messages_total", queue="inbox-queue", result="rejected") >= 1
    assert metric(text, "sns_queue_poller_up", queue="inbox-queue") == 1
