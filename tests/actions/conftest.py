"""Shared pieces for the action tests: a real SMTP server on loopback, alerts, deliveries."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest

from sns_subscriber.delivery import Delivery
from sns_subscriber.messages import Notification
from sns_subscriber.producers.budgets import BudgetAlert

from ..support.smtp_server import Mailbox

TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"
UNSUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
    "arn:aws:sns:us-east-1:123456789012:budget-alerts:5f2a4b8e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
)
RAW_ALERT = (
    "AWS Budget Notification November 28, 2026\n"
    "AWS Account 123456789012\n\n"
    "Dear AWS Customer,\n\n"
    "You requested that we alert you when the ACTUAL Cost associated with your team-a-prod budget is "
    "greater than $90.00 for the current month. The ACTUAL Cost associated with this budget is $95.12. "
    "You can find additional details below and by accessing the AWS Budgets dashboard [1].\n\n"
    "Budget Name: team-a-prod\n"
    "Budget Type: Cost\n"
    "Budgeted Amount: $100.00\n"
    "Alert Type: ACTUAL\n"
    "Alert Threshold: > $90.00\n"
    "ACTUAL Amount: $95.12\n\n"
    "[1] https://console.aws.amazon.com/billing/home#/budgets\n"
)
ALERT = BudgetAlert(
    raw=RAW_ALERT,
    account_id="123456789012",
    budget_name="team-a-prod",
    budget_type="cost",
    period="monthly",
    alert_type="ACTUAL",
    currency="USD",
    budgeted_amount=Decimal("100.00"),
    threshold_amount=Decimal("90.00"),
    threshold_percent=Decimal("90"),
    amount=Decimal("95.12"),
    notification_date=date(2026, 11, 28),
    budgeted_amount_text="$100.00",
    threshold_amount_text="$90.00",
    amount_text="$95.12",
    complete=True,
)


def make_alert(**changes: Any) -> BudgetAlert:
    return dataclasses.replace(ALERT, **changes)


def make_notification(
    message_id: str = "7b1c9d3e-0000-5000-8000-000000000001", text: str = RAW_ALERT
) -> Notification:
    return Notification(
        message_id=message_id,
        topic_arn=TOPIC,
        message=text,
        timestamp="2026-11-28T12:00:00.000Z",
        signature_version="2",
        signature="x",
        signing_cert_url="https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem",
        subject="AWS Budgets: team-a-prod has exceeded your alert threshold",
        unsubscribe_url=UNSUBSCRIBE_URL,
    )


class Ledger:
    """An action ledger that outlives one Delivery, as the inbox store's does."""

    def __init__(self) -> None:
        self.done: set[tuple[str, str]] = set()

    def action_succeeded(self, message_id: str, action_key: str) -> bool:
        return (message_id, action_key) in self.done

    def record_action(self, message_id: str, action_key: str) -> None:
        self.done.add((message_id, action_key))


def make_delivery(
    event: object = ALERT,
    *,
    message_id: str = "7b1c9d3e-0000-5000-8000-000000000001",
    ledger: Ledger | None = None,
) -> Delivery:
    options: dict[str, Any] = {} if ledger is None else {"ledger": ledger}
    return Delivery(
        message=make_notification(message_id),
        event=event,  # type: ignore[arg-type]
        endpoint="/budget-subscriber",
        handler_name="budget-email",
        **options,
    )


class RecordingBackend:
    """Keeps what it is given; ``fail_for`` addresses raise, as a refusing server would."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_for = fail_for or set()
        self.closed = False

    def send(self, message: EmailMessage) -> None:
        to = message["To"].addresses[0].addr_spec
        if to in self.fail_for:
            raise ConnectionError(f"cannot deliver to {to}")
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()
