"""AWS Budgets end to end: the Flask example app on a real WSGI server, messages signed by
the test kit, e-mails received by a real SMTP server on loopback (and SES through moto)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.confirmation import UrlConfirmer
from sns_subscriber.testing import SNSTestKit, samples

from .support.https_server import LocalServer, Route, default_test_ca, serve_https
from .support.servers import request, serve_wsgi
from .support.smtp_server import Mailbox

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"
ANSWER = (
    b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
    b"arn:aws:sns:us-east-1:123456789012:budget-alerts:42</SubscriptionArn></ConfirmSubscriptionResult>"
    b"</ConfirmSubscriptionResponse>"
)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def sns_host() -> Iterator[LocalServer]:
    with serve_https(
        {"/": Route(200, {"Content-Type": "text/xml"}, ANSWER)}, names=("sns.us-east-1.amazonaws.com",)
    ) as server:
        yield server


def example_app(tmp_path: Path, kit: SNSTestKit, sns_host: LocalServer, backend: Any) -> Any:
    sys.path.insert(0, str(ROOT / "examples" / "flask_budgets"))
    try:
        from app import create_app  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    confirmer = UrlConfirmer(
        ssl_context=default_test_ca().client_context(), connect_to=("127.0.0.1", sns_host.port)
    )
    app = create_app(
        data_dir=tmp_path / "app", topics=[TOPIC], cert_dir=kit.write_cert_dir(tmp_path / "certs"),
        confirmer=confirmer, email_backend=backend,
    )  # fmt: skip
    app.config["users"].add("Alice", "alice@example.com", [("team-a-prod", "123456789012")])
    app.config["users"].add("Bob", "bob@example.com", [("team-b-prod", "123456789012")])
    return app


def send(url: str, kit: SNSTestKit, fields: dict[str, Any]) -> tuple[int, bytes]:
    reply = request(url, body=kit.body(fields), headers=kit.headers(fields))
    return reply.status, reply.body


def run_budget_flow(
    url: str, kit: SNSTestKit, received: Callable[[], int], wait: Callable[[int], None]
) -> None:
    status, body = send(url, kit, kit.subscription_confirmation(TOPIC))
    assert (status, b'"confirmed"' in body) == (200, True)

    subject, text = samples.topic_verified()
    status, _ = send(url, kit, kit.notification(TOPIC, text, subject=subject))
    assert status == 200

    subject, text = samples.budget_alert(
        budget_name="team-a-prod", budgeted="100.00", threshold_percent="90", amount="95.12"
    )
    alert = kit.notification(TOPIC, text, subject=subject)
    status, body = send(url, kit, alert)
    assert (status, b'"accepted"' in body) == (200, True)
    wait(1)
    assert received() == 1

    status, body = send(url, kit, alert)  # SNS redelivers
    assert (status, b'"duplicate"' in body) == (200, True)

    forged = kit.notification(TOPIC, text.replace("$95.12", "$9,999.00"), subject=subject)
    forged["Message"] = text.replace("$95.12", "$0.01")  # changed after signing
    status, _ = send(url, kit, forged)
    assert status == 403
    time.sleep(1.0)  # time for a (wrong) second e-mail to show up
    assert received() == 1


@pytest.mark.slow
def test_flask_budget_alert_emails_the_owner_once(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    from sns_subscriber.actions.email import SMTPBackend

    with Mailbox() as mailbox:
        app = example_app(tmp_path, sns_kit, sns_host, SMTPBackend("127.0.0.1", mailbox.port))
        with serve_wsgi(app) as base:
            run_budget_flow(
                f"{base}/budget-subscriber", sns_kit, lambda: len(mailbox.messages), mailbox.wait_for
            )
        app.config["shutdown"]()
    [message] = mailbox.messages
    assert mailbox.envelopes == [("alerts@example.com", ["alice@example.com"])]
    assert message["Subject"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
    assert "alice@example.com" in message["To"]
    body = text_of(message)
    for expected in ("Alice", "team-a-prod", "ACTUAL", "90%", "$100.00", "$95.12"):
        assert expected in body, expected
    assert "Unsubscribe" not in message.as_string()
    assert len(sns_host.requests) == 1  # the subscription was confirmed once


@pytest.mark.slow
def test_same_flow_with_ses_through_moto(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path, mocked_aws: None
) -> None:
    import boto3
    from moto.ses.models import ses_backends

    from sns_subscriber.actions.email import SESBackend

    boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress="alerts@example.com")
    backend = ses_backends["123456789012"]["us-east-1"]
    lock = threading.Lock()

    def received() -> int:
        with lock:
            return len(backend.sent_messages)

    def wait(count: int) -> None:
        deadline = time.monotonic() + 15
        while received() < count and time.monotonic() < deadline:
            time.sleep(0.05)

    app = example_app(tmp_path, sns_kit, sns_host, SESBackend("us-east-1"))
    with serve_wsgi(app) as base:
        run_budget_flow(f"{base}/budget-subscriber", sns_kit, received, wait)
    app.config["shutdown"]()
    [sent] = backend.sent_messages
    assert "alice@example.com" in sent.destinations
    raw = sent.raw_data if hasattr(sent, "raw_data") else str(sent)
    assert "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00" in raw
