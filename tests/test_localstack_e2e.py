"""The AWS side end to end, against a real LocalStack (SNS + SQS) on 127.0.0.1.

Everything runs as a user would run it: `sns-subscriber serve`, `poll`, `worker`,
`subscriptions apply|check` and `dlq drain` as separate processes, with credentials of a
"real" account in their environment (LocalStack mode must not use them). The tests run in
file order and share one LocalStack, one inbox and one outbox.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.testing import samples

from .support.https_server import unused_port
from .support.localstack import ACCOUNT, LocalStack, run_localstack
from .support.servers import request

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BUDGET_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:budget-alerts"
QUEUE_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:queued-alerts"
#: What each command printed, for the record (shown with `pytest -s`).
TRANSCRIPT: list[str] = []


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with run_localstack(tmp_path_factory.mktemp("localstack")) as running:
        yield running


@dataclass
class Env:
    localstack: LocalStack
    root: Path
    public_url: str
    queue_url: str
    serve: subprocess.Popen[bytes] | None = None

    @property
    def full(self) -> Path:
        return self.root / "full.toml"

    @property
    def http_only(self) -> Path:
        return self.root / "serve.toml"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SNS_SUBSCRIBER_"))}
        # A developer's machine: credentials of a real account that must never be used here.
        env.update(
            AWS_ACCESS_KEY_ID="AKIAREALACCOUNT00000", AWS_SECRET_ACCESS_KEY="real", AWS_MAX_ATTEMPTS="2"
        )
        return env

    def cli(self, *args: str, expect: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sns_subscriber", *args],
            cwd=self.root,
            env=self.environ(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        output = done.stdout.decode()
        TRANSCRIPT.append(
            f"$ sns-subscriber {' '.join(args)}\n{output}{done.stderr.decode()}(exit {done.returncode})"
        )
        print(TRANSCRIPT[-1])
        assert done.returncode == expect, done.stdout.decode() + done.stderr.decode()
        return output

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{args[0]}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "sns_subscriber", *args],
                cwd=self.root,
                env=self.environ(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def inbox(self, endpoint: str) -> list[tuple[str, bytes]]:
        with sqlite3.connect(self.root / "inbox.db", timeout=10) as db:
            rows = db.execute("SELECT message_id, body FROM inbox WHERE endpoint = ?", (endpoint,)).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def queue_depth(ls: LocalStack, url: str) -> int:
    attributes = ls.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def write_configs(root: Path, ls: LocalStack, port: int, queue_url: str) -> None:
    common = (
        f'[service]\nhost = "127.0.0.1"\nport = {port}\nlog_level = "warning"\n'
        f'[store]\nurl = "sqlite:///inbox.db"\n'
        f'[localstack]\nenabled = true\nhost = "{ls.host}"\n'
        f'[email]\nbackend = "file"\noutbox_dir = "outbox"\nfallback = ["finops@example.com"]\n'
        f'[[endpoints]]\npath = "/budget"\ntopics = ["{BUDGET_TOPIC}"]\nconfirm = "auto"\nactions = ["budget-email"]\n'
    )
    (root / "serve.toml").write_text(common)
    (root / "full.toml").write_text(
        common + f'[[queues]]\nurl = "{queue_url}"\ntopics = ["{QUEUE_TOPIC}"]\nactions = ["budget-email"]\n'
        "wait_seconds = 1\nbatch_size = 10\nvisibility_timeout_seconds = 3\n"
    )


@pytest.fixture(scope="module")
def env(localstack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("e2e")
    sns, sqs = localstack.client("sns"), localstack.client("sqs")
    sns.create_topic(Name="budget-alerts")
    sns.create_topic(Name="queued-alerts")
    queue_url = sqs.create_queue(QueueName="alerts-queue")["QueueUrl"]
    port = unused_port()
    write_configs(root, localstack, port, queue_url)
    state = Env(localstack, root, f"http://127.0.0.1:{port}", queue_url)
    state.serve = state.start("serve", "--config", "serve.toml", "--no-worker")
    wait_for("serve to be ready", lambda: _ready(state.public_url))
    yield state
    if state.serve is not None and state.serve.poll() is None:
        stop(state.serve)
    print("\n\n".join(TRANSCRIPT))


def _ready(base: str) -> bool:
    try:
        return request(base + "/readyz", method="GET").status == 200
    except OSError:
        return False


def http_subscription(env: Env) -> dict[str, Any]:
    [found] = [
        s
        for s in env.localstack.client("sns").list_subscriptions_by_topic(TopicArn=BUDGET_TOPIC)[
            "Subscriptions"
        ]
        if s["Protocol"] == "http"
    ]
    subscription: dict[str, Any] = found
    return subscription


def test_apply_then_the_subscription_is_confirmed(env: Env) -> None:
    first = env.cli(
        "subscriptions",
        "apply",
        "--config",
        "full.toml",
        "--public-url",
        env.public_url,
        "--dead-letter-queue",
        "create",
    )
    assert "subscribe" in first
    # LocalStack posts the SubscriptionConfirmation to serve, which confirms it through the
    # API -- at LocalStack, not at sns.us-east-1.amazonaws.com.
    confirmed = wait_for(
        "the HTTP subscription to be confirmed",
        lambda: http_subscription(env)["SubscriptionArn"] != "PendingConfirmation" and http_subscription(env),
    )
    assert confirmed["Endpoint"] == f"{env.public_url}/budget"
    ls = env.cli("subscriptions", "ls", "--config", "full.toml")
    assert "confirmed" in ls
    second = env.cli(
        "subscriptions",
        "apply",
        "--config",
        "full.toml",
        "--public-url",
        env.public_url,
        "--dead-letter-queue",
        "create",
    )
    assert "nothing to change: every subscription is as configured" in second


def test_check_green_then_red_after_raw_delivery_is_switched_on(env: Env) -> None:
    green = env.cli("subscriptions", "check", "--config", "full.toml", "--public-url", env.public_url)
    assert green.count("confirmed") == 2
    sns = env.localstack.client("sns")
    arn = http_subscription(env)["SubscriptionArn"]
    sns.set_subscription_attributes(
        SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    red = env.cli(
        "subscriptions", "check", "--config", "full.toml", "--public-url", env.public_url, "--json", expect=1
    )
    [bad] = [row for row in json.loads(red)["subscriptions"] if row["problems"]]
    assert (bad["target"], bad["problems"]) == ("/budget", ["raw delivery is on, /budget expects it off"])
    sns.set_subscription_attributes(
        SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="false"
    )


def test_queue_of_50_messages_stored_once_each_though_the_poller_is_killed_mid_batch(env: Env) -> None:
    sns = env.localstack.client("sns")
    subject, text = samples.budget_alert(budget_name="team-q-prod", account_id=ACCOUNT)
    ids = [sns.publish(TopicArn=QUEUE_TOPIC, Message=text, Subject=subject)["MessageId"]]
    ids += [sns.publish(TopicArn=QUEUE_TOPIC, Message=f"event {i}")["MessageId"] for i in range(49)]
    wait_for("the queue to hold 50 messages", lambda: queue_depth(env.localstack, env.queue_url) == 50)

    poller = env.start("poll", "--config", "full.toml")
    with sqlite3.connect(env.root / "inbox.db", timeout=30, isolation_level=None) as db:
        count = "SELECT count(*) FROM inbox WHERE endpoint = 'sqs:alerts-queue'"
        deadline = time.monotonic() + 60
        while not db.execute(count).fetchone()[0]:  # no sleep: the batch takes milliseconds
            assert time.monotonic() < deadline, "the poller stored nothing"
        # Hold the database's write lock: the poller blocks on its next insert, inside a batch
        # it has received and partly stored but not deleted. Kill it there.
        db.execute("BEGIN IMMEDIATE")
        at_kill = db.execute(count).fetchone()[0]
        time.sleep(0.5)
        poller.kill()  # SIGKILL: no chance to finish the batch or delete anything more
        poller.wait(timeout=30)
        db.execute("ROLLBACK")
    stored = env.inbox("sqs:alerts-queue")
    in_queue = queue_depth(env.localstack, env.queue_url)
    TRANSCRIPT.append(
        f"poller SIGKILLed mid-batch: {at_kill} message(s) stored, {in_queue} in SQS "
        f"({at_kill + in_queue - 50} stored but not yet deleted)"
    )
    print(TRANSCRIPT[-1])
    assert len(stored) == at_kill < 50
    assert at_kill + in_queue > 50, "killed between the commit and the delete of some messages"

    # An SNS duplicate on top: the same signed envelope delivered once more.
    env.localstack.client("sqs").send_message(QueueUrl=env.queue_url, MessageBody=stored[0][1].decode())
    poller = env.start("poll", "--config", "full.toml")
    wait_for(
        "all 50 stored and the queue empty",
        lambda: len(env.inbox("sqs:alerts-queue")) == 50 and queue_depth(env.localstack, env.queue_url) == 0,
        timeout=120,
    )
    assert stop(poller) == 0
    assert sorted(m for m, _ in env.inbox("sqs:alerts-queue")) == sorted(ids)


def test_the_budget_alert_is_emailed_once(env: Env) -> None:
    first = env.cli("worker", "--config", "full.toml", "--once")
    assert "processed" in first
    outbox = env.root / "outbox"
    mails = sorted(outbox.glob("*.eml"))
    [mail] = [m for m in mails if "team-q-prod" in m.read_text()]
    assert len(mails) == 1, [m.name for m in mails]
    assert "finops@example.com" in mail.read_text()
    env.cli("worker", "--config", "full.toml", "--once")
    assert sorted(outbox.glob("*.eml")) == mails


def test_dlq_drain_recovers_what_sns_could_not_deliver(env: Env) -> None:
    assert env.serve is not None
    assert stop(env.serve) == 0  # the endpoint is down: LocalStack dead-letters at once
    dlq_url = env.localstack.client("sqs").get_queue_url(QueueName="sns-subscriber-dlq")["QueueUrl"]
    message_id = env.localstack.client("sns").publish(TopicArn=BUDGET_TOPIC, Message="delivered while down")[
        "MessageId"
    ]
    wait_for("the dead letter", lambda: queue_depth(env.localstack, dlq_url) == 1)
    output = env.cli("dlq", "drain", "--config", "full.toml", "--queue-url", dlq_url)
    assert "received 1; moved into the inbox 1 verified" in output
    assert [m for m, _ in env.inbox("/budget")] == [message_id]
    assert queue_depth(env.localstack, dlq_url) == 0
