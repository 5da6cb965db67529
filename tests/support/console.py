"""Helpers for the console tests: an inbox filled through the real SNS pipeline, a worker
whose handler can be made to fail, a local SNS confirmation host, and API calls."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sns_subscriber.confirmation import ManualConfirmer
from sns_subscriber.delivery import Delivery
from sns_subscriber.inbound import InboundRequest
from sns_subscriber.routing import Router
from sns_subscriber.stores import InboxStore
from sns_subscriber.subscriber import Subscriber
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples
from sns_subscriber.worker import RetryPolicy, Worker

from .servers import Reply, request

TOKEN = "console-test-token-0123456789abcdef"
ATTACK = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


def api(base: str, path: str, *, method: str = "GET", body: Any = None, token: str | None = TOKEN,
        headers: dict[str, str] | None = None) -> tuple[int, Any, Reply]:  # fmt: skip
    """Call the console's JSON API; returns (status, decoded JSON, raw reply)."""
    all_headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    all_headers |= headers or {}
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    reply = request(base + path, method=method, body=data, headers=all_headers)
    decoded = (
        json.loads(reply.body)
        if reply.headers.get("content-type", "").startswith("application/json")
        else None
    )
    return reply.status, decoded, reply


@dataclass
class Inbox:
    """Fills a store the way SNS would, and processes it with a worker on demand."""

    kit: SNSTestKit
    store: InboxStore
    cert_dir: Path
    trusted_hosts: frozenset[str] = frozenset()
    failing: bool = False
    handled: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        verifier = self.kit.verifier([TEST_TOPIC_ARN], cert_dir=self.cert_dir)
        self.subscriber = Subscriber(
            verifier, self.store, endpoint="/sns", confirmer=ManualConfirmer(trusted_hosts=self.trusted_hosts)
        )
        router = Router()
        router.add(self._handler, name="/sns:test")
        self.worker = Worker(self.store, router, retry=RetryPolicy(max_attempts=1), poll_interval=0.05)

    def _handler(self, delivery: Delivery) -> None:
        if self.failing:
            raise RuntimeError("the downstream service said no")
        self.handled.append(delivery.message_id)

    def post(self, fields: dict[str, Any]) -> str:
        request_ = InboundRequest.build("POST", "/sns", self.kit.headers(fields), self.kit.body(fields))
        outcome = self.subscriber.handle(request_)
        assert outcome.status == 200, outcome.body
        return str(fields["MessageId"])

    def notify(self, message: str = "hello", *, subject: str | None = None) -> str:
        return self.post(self.kit.notification(TEST_TOPIC_ARN, message, subject=subject))

    def budget_alert(self, budget_name: str = "team-a-prod", amount: str = "95.12") -> str:
        subject, text = samples.budget_alert(
            budget_name=budget_name, budgeted=Decimal("100.00"), threshold_percent=Decimal("90"),
            amount=Decimal(amount), alert_type="ACTUAL", period="monthly", account_id="123456789012",
        )  # fmt: skip
        return self.notify(text, subject=subject)

    def pending_subscription(self, confirm_host: str | None = None) -> str:
        fields = self.kit.subscription_confirmation(TEST_TOPIC_ARN)
        if confirm_host is not None:
            fields["SubscribeURL"] = (
                f"http://{confirm_host}/?Action=ConfirmSubscription&TopicArn={TEST_TOPIC_ARN}&Token={fields['Token']}"
            )
            self.kit.sign(fields)
        return self.post(fields)

    def process(self) -> int:
        return self.worker.drain()


class ConfirmHost:
    """A plain-HTTP stand-in for SNS's ConfirmSubscription (LocalStack-style trusted host);
    also a webhook target that answers POSTs with ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[str] = []
        self.bodies: list[bytes] = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.requests.append(self.path)
                body = (
                    b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
                    + TEST_TOPIC_ARN.encode()
                    + b":confirmed-by-console</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
                )
                self.send_response(host.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # a webhook target: answers ``status`` with no body
                length = int(self.headers.get("Content-Length") or 0)
                host.requests.append(self.path)
                host.bodies.append(self.rfile.read(length))
                self.send_response(host.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[ConfirmHost]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(10)
