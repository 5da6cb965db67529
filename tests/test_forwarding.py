"""Webhook and Slack forwarding against a real HTTP server on 127.0.0.1; the SES hook."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.actions.ses_bounces import on_ses_suppression
from sns_subscriber.actions.webhook import WebhookAction, WebhookError
from sns_subscriber.delivery import Delivery
from sns_subscriber.parsing import parse
from sns_subscriber.producers import detect
from sns_subscriber.routing import Router
from sns_subscriber.stores import InboxStatus, InboxStore
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples
from sns_subscriber.worker import RetryPolicy, Worker

from .conftest import SIGNED
from .support.pipeline import make_subscriber, post, sqlite_store


class Receiver:
    """A webhook receiver that answers the statuses it is told to, then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    s = sqlite_store(tmp_path)
    yield s
    s.close()


def _accept(kit: SNSTestKit, store: InboxStore, tmp_path: Path, text: str, subject: str | None = None) -> str:
    fields = kit.notification(TEST_TOPIC_ARN, text, subject=subject)
    assert make_subscriber(kit, store, tmp_path).handle(post(fields)).result == "accepted"
    return str(fields["MessageId"])


def test_webhook_retries_after_500_and_never_repeats_after_success(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    router = Router()
    router.add(WebhookAction(receiver.url, secret="s3cret", clock=lambda: 1700000000.0), name="hook")
    subject, text = samples.budget_alert(budget_name="team-a-prod")
    message_id = _accept(sns_kit, store, tmp_path, text, subject)
    worker = Worker(store, router, retry=RetryPolicy(base_delay=0.0, jitter=0.0))
    worker.drain()
    record = store.get(message_id)
    assert record is not None
    assert (record.status, record.attempts) == (InboxStatus.DONE, 3)
    assert len(receiver.requests) == 3  # two failures, one success
    headers, body = receiver.requests[-1]
    payload = json.loads(body)
    assert payload["producer"] == "budgets"
    assert payload["event"]["budget_name"] == "team-a-prod"
    assert payload["event"]["amount"] == "95.12"
    assert "Unsubscribe" not in body.decode()
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers["x-sns-subscriber-signature"] == f"sha256={expected}"
    assert headers["x-sns-message-id"] == message_id
    # Redelivered by SNS (duplicate, not stored again) and replayed by an operator: no new POST.
    fields_again = store.get(message_id)
    assert fields_again is not None
    assert store.replay(message_id)
    worker.drain()
    assert len(receiver.requests) == 3


def test_webhook_failure_is_retried_error(sns_kit: SNSTestKit, receiver: Receiver) -> None:
    receiver.statuses = [500]
    message = parse(sns_kit.body(sns_kit.notification(TEST_TOPIC_ARN, "x")))
    delivery = Delivery(message=message, event=None, endpoint="/sns", handler_name="hook")
    with pytest.raises(WebhookError, match="HTTP 500"):
        WebhookAction(receiver.url)(delivery)
    with pytest.raises(WebhookError, match="failed"):
        WebhookAction("http://127.0.0.1:1/closed")(delivery)


def _delivery_for(path: Path) -> Delivery:
    message = parse(path.read_bytes())
    return Delivery(message=message, event=detect(message), endpoint="/sns", handler_name="slack")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fixture", "text"),
    [
        ("budget-actual-monthly-2022-09-26-ca-central-1.json",
         ":money_with_wings: *AWS budget Test Budget: actual $0.59 passed 80% of $0.20* (monthly) in account 017790921725"),
        ("cloudwatch-alarm-ALARM-2022-09-25-ca-central-1.json", ':rotating_light: *ALARM* `Test alarm` (INSUFFICIENT_DATA → ALARM) in Canada (Central)'),
        ("ses-bounce-notification-2022-04-01-us-east-1.json", ":envelope: SES bounce (Permanent General) for"),
    ],
)  # fmt: skip
def test_slack_summaries(receiver: Receiver, fixture: str, text: str) -> None:
    delivery = _delivery_for(SIGNED / fixture)
    WebhookAction(receiver.url, format="slack")(delivery)
    [(_, body)] = receiver.requests
    assert json.loads(body)["text"].startswith(text)


def test_slack_escapes_markup(receiver: Receiver, sns_kit: SNSTestKit) -> None:
    message = parse(
        sns_kit.body(sns_kit.notification(TEST_TOPIC_ARN, "<!channel> & <http://evil|click>", subject="S"))
    )
    delivery = Delivery(message=message, event=detect(message), endpoint="/sns", handler_name="slack")  # type: ignore[arg-type]
    WebhookAction(receiver.url, format="slack")(delivery)
    text = json.loads(receiver.requests[0][1])["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text


def test_producer_filter(receiver: Receiver) -> None:
    delivery = _delivery_for(SIGNED / "cloudwatch-alarm-ALARM-2022-09-25-ca-central-1.json")
    WebhookAction(receiver.url, producers=frozenset({"budgets"}))(delivery)
    assert receiver.requests == []


def test_ses_suppression_hook_reports_each_address_once(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    bounce = json.loads((SIGNED / "ses-bounce-notification-2022-04-01-us-east-1.json").read_text())["Message"]
    complaint = json.loads((SIGNED / "ses-complaint-event-publishing-2022-03-28-us-east-1.json").read_text())[
        "Message"
    ]
    suppressed: list[tuple[str, str]] = []
    router = Router()
    on_ses_suppression(router, lambda address, reason, event: suppressed.append((address, reason)))
    first = _accept(sns_kit, store, tmp_path, bounce)
    _accept(sns_kit, store, tmp_path, complaint)
    worker = Worker(store, router)
    worker.drain()
    store.replay(first)
    worker.drain()
    assert sorted(suppressed) == sorted(
        [(json.loads(bounce)["bounce"]["bouncedRecipients"][0]["emailAddress"], "bounce"),
         (json.loads(complaint)["complaint"]["complainedRecipients"][0]["emailAddress"], "complaint")]
    )  # fmt: skip
