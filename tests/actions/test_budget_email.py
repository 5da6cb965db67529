"""BudgetEmailAction: the e-mail a budget owner receives, delivered by a real SMTP server."""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Iterator
from decimal import Decimal
from email.message import EmailMessage

import pytest

from sns_subscriber.actions import (
    BudgetEmailAction,
    BudgetOwner,
    ConfigOwnerResolver,
    EmailSendError,
    Recipient,
    SMTPBackend,
)
from sns_subscriber.exceptions import ConfigurationError
from sns_subscriber.producers.budgets import BudgetAlert, BudgetTopicVerified

from ..support.smtp_server import Mailbox
from .conftest import ALERT, UNSUBSCRIBE_URL, Ledger, RecordingBackend, make_alert, make_delivery

SENDER = "Cost alerts <alerts@example.com>"
ALICE = BudgetOwner(budget="team-a-*", email="alice@example.com", name="Alice Example")
BOB = BudgetOwner(budget="team-a-prod", email="bob@example.com", name="Bob")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def smtp(mailbox: Mailbox) -> Iterator[SMTPBackend]:
    backend = SMTPBackend("127.0.0.1", mailbox.port)
    yield backend
    backend.close()


def smtp_action(
    backend: SMTPBackend, *owners: BudgetOwner, fallback: tuple[Recipient, ...] = ()
) -> BudgetEmailAction:
    resolver = ConfigOwnerResolver(owners or (ALICE,), fallback=fallback)
    return BudgetEmailAction(backend, resolver, sender=SENDER)


def recording_action(
    *owners: BudgetOwner, backend: RecordingBackend | None = None
) -> tuple[BudgetEmailAction, RecordingBackend]:
    backend = backend or RecordingBackend()
    return BudgetEmailAction(backend, ConfigOwnerResolver(owners or (ALICE,)), sender=SENDER), backend


def test_actual_alert_reaches_the_owner_with_the_right_numbers(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    action = smtp_action(smtp)
    action(make_delivery())

    [message] = mailbox.messages
    assert mailbox.envelopes == [("alerts@example.com", ["alice@example.com"])]
    assert message["To"] == "Alice Example <alice@example.com>"
    assert message["From"] == "Cost alerts <alerts@example.com>"
    assert message["Subject"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
    assert message["X-SNS-Message-Id"] == "7b1c9d3e-0000-5000-8000-000000000001"
    assert re.fullmatch(r"<budget-alert\.[0-9a-f]{32}@example\.com>", message["Message-ID"])
    assert message["Date"].datetime is not None
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = text_of(message)
    for fact in (
        "Alice Example",
        "team-a-prod",
        "ACTUAL",
        "90%",
        "$100.00",
        "$95.12",
        "$90.00",
        "for the current month",
        "123456789012",
        "November 28, 2026",
    ):
        assert fact in text, fact
    html = html_of(message)
    for fact in (
        "Alice Example",
        "team-a-prod",
        "ACTUAL",
        "90%",
        "$100.00",
        "$95.12",
        "123456789012",
        "<table",
    ):
        assert fact in html, fact
    assert "None" not in text and "None" not in html
    assert "The alert from AWS Budgets" not in text  # complete alerts need no raw copy


def test_html_part_escapes_the_budget_name(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    hostile = "<script>alert(1)</script>"
    action = smtp_action(smtp, BudgetOwner(budget="*", email="alice@example.com"))
    action(make_delivery(make_alert(budget_name=hostile)))
    [message] = mailbox.messages
    html = html_of(message)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert hostile in text_of(message)  # plain text shows the name as it is


def test_forecasted_alert_says_forecast(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    action = smtp_action(smtp)
    action(
        make_delivery(make_alert(alert_type="FORECASTED", amount=Decimal("115.00"), amount_text="$115.00"))
    )
    [message] = mailbox.messages
    assert message["Subject"].strip() == (
        "AWS budget team-a-prod: is forecast to pass 90% of $100.00 (forecast $115.00)"
    )
    text = text_of(message)
    assert "FORECASTED" in text
    assert (
        "is forecast to pass 90% of $100.00: its cost for the current month is forecast to reach $115.00"
        in text
    )
    assert "Forecasted amount: $115.00" in text
    assert "not happened yet" in text
    assert "ACTUAL" not in text
    for part in (message["Subject"], text, html_of(message)):
        assert "exceed" not in part.lower()  # a forecast has not exceeded anything yet


@pytest.mark.parametrize(
    ("percent", "shown"),
    [
        (Decimal("90"), "90"),
        (Decimal("90.00"), "90"),
        (Decimal("80.5"), "80.5"),
        (Decimal("80.50"), "80.5"),
        (Decimal("100"), "100"),
    ],
)
def test_threshold_percent_is_normalised(percent: Decimal, shown: str) -> None:
    action, backend = recording_action()
    action(make_delivery(make_alert(threshold_percent=percent, threshold_amount=percent)))
    [message] = backend.sent
    assert message["Subject"] == f"AWS budget team-a-prod: actual $95.12 passed {shown}% of $100.00"
    assert f"{shown}%" in text_of(message)


def test_partial_alert_says_what_is_known_and_quotes_the_alert(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    raw = "AWS Budget Notification November 28, 2026\nSomething AWS has not said before.\n"
    alert = BudgetAlert(raw=raw, budget_name="team-a-prod", amount_text="$95.12")
    action = smtp_action(smtp)
    action(make_delivery(alert))
    [message] = mailbox.messages
    assert message["Subject"] == "AWS budget team-a-prod: passed its alert threshold (amount $95.12)"
    text, html = text_of(message), html_of(message)
    for part in (text, html):
        assert "None" not in part
        assert "team-a-prod" in part
        assert "$95.12" in part
        assert "Something AWS has not said before." in part
        assert "could not be read completely" in part
    assert "Hello Alice Example," in text


def test_alert_with_nothing_recognised_still_reads_well() -> None:
    action, backend = recording_action(BudgetOwner(budget="*", email="ops@example.com"))
    action(make_delivery(BudgetAlert(raw="unexpected text")))
    [message] = backend.sent
    assert message["Subject"] == "AWS budget alert: passed its alert threshold"
    text = text_of(message)
    assert text.startswith("Hello,\n")
    assert "None" not in text and "None" not in html_of(message)
    assert "unexpected text" in text


def test_daily_budget_period_wording() -> None:
    action, backend = recording_action()
    action(make_delivery(make_alert(period="daily")))
    assert "for the previous day" in text_of(backend.sent[0])


def test_each_matching_owner_gets_one_email(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    action = smtp_action(smtp, ALICE, BOB, BudgetOwner(budget="team-b-*", email="carol@example.com"))
    action(make_delivery())
    assert sorted(rcpts[0] for _, rcpts in mailbox.envelopes) == ["alice@example.com", "bob@example.com"]
    assert {m["To"] for m in mailbox.messages} == {
        "Alice Example <alice@example.com>",
        "Bob <bob@example.com>",
    }
    assert "Hello Bob," in text_of(next(m for m in mailbox.messages if "bob" in m["To"]))


def test_unmatched_alert_goes_to_the_fallback(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    action = smtp_action(smtp, ALICE, fallback=(Recipient("finance@example.com", "Finance"),))
    action(make_delivery(make_alert(budget_name="unowned-budget")))
    assert mailbox.envelopes == [("alerts@example.com", ["finance@example.com"])]
    assert "Hello Finance," in text_of(mailbox.messages[0])


def test_no_owner_and_no_fallback_sends_nothing_and_warns(
    mailbox: Mailbox, smtp: SMTPBackend, caplog: pytest.LogCaptureFixture
) -> None:
    action = smtp_action(smtp, ALICE)
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.actions.budget_email"):
        action(make_delivery(make_alert(budget_name="unowned-budget")))  # no exception: nothing to retry
    assert mailbox.messages == []
    assert "no owner" in caplog.text and "unowned-budget" in caplog.text


@pytest.mark.parametrize("event", [None, BudgetTopicVerified(raw="SNS Topic Verified!")])
def test_other_events_are_ignored(event: object) -> None:
    action, backend = recording_action()
    action(make_delivery(event))
    assert backend.sent == []


def test_redelivery_sends_one_email_per_recipient(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    action = smtp_action(smtp, ALICE, BOB)
    ledger = Ledger()
    action(make_delivery(ledger=ledger))
    action(make_delivery(ledger=ledger))  # SNS redelivered, or an operator replayed it
    assert len(mailbox.messages) == 2
    assert ledger.done == {
        ("7b1c9d3e-0000-5000-8000-000000000001", "budget-email:alice@example.com"),
        ("7b1c9d3e-0000-5000-8000-000000000001", "budget-email:bob@example.com"),
    }
    action(make_delivery(ledger=ledger, message_id="another-message"))
    assert len(mailbox.messages) == 4  # a new alert is a new e-mail


def test_refused_recipient_fails_the_delivery_and_only_it_is_retried(
    mailbox: Mailbox, smtp: SMTPBackend
) -> None:
    action = smtp_action(smtp, ALICE, BOB)
    ledger = Ledger()
    mailbox.reject.add("alice@example.com")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        action(make_delivery(ledger=ledger))
    assert [rcpts for _, rcpts in mailbox.envelopes] == [["bob@example.com"]]  # Bob was not held back

    mailbox.reject.clear()
    action(make_delivery(ledger=ledger, message_id="7b1c9d3e-0000-5000-8000-000000000001"))
    assert [rcpts for _, rcpts in mailbox.envelopes] == [["bob@example.com"], ["alice@example.com"]]
    assert mailbox.connections == 1  # the refusal did not cost the connection


def test_several_failures_are_reported_together() -> None:
    backend = RecordingBackend(fail_for={"alice@example.com", "bob@example.com"})
    action, _ = recording_action(
        ALICE, BOB, BudgetOwner(budget="*", email="carol@example.com"), backend=backend
    )
    ledger = Ledger()
    with pytest.raises(EmailSendError, match=r"2 of 3 .*alice@example\.com.*bob@example\.com") as caught:
        action(make_delivery(ledger=ledger))
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert [m["To"].addresses[0].addr_spec for m in backend.sent] == ["carol@example.com"]

    backend.fail_for.clear()
    action(make_delivery(ledger=ledger))
    assert [m["To"].addresses[0].addr_spec for m in backend.sent] == [
        "carol@example.com",
        "alice@example.com",
        "bob@example.com",
    ]


def test_unsubscribe_url_never_reaches_the_email(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    action = smtp_action(smtp)
    # Even a partial alert quoting the link in its own text must not carry it.
    raw = f"AWS Budget Notification\nTo stop these messages visit {UNSUBSCRIBE_URL}\n"
    action(make_delivery())
    action(make_delivery(BudgetAlert(raw=raw, budget_name="team-a-prod"), message_id="second"))
    assert len(mailbox.messages) == 2
    for message in mailbox.messages:
        wire = message.as_bytes()
        assert UNSUBSCRIBE_URL.encode() not in wire
        assert b"Unsubscribe" not in wire
        assert "Unsubscribe" not in text_of(message) + html_of(message)


def test_header_injection_through_names_adds_no_header(mailbox: Mailbox, smtp: SMTPBackend) -> None:
    hostile_budget = "team-a-prod\r\nBcc: evil@example.net\r\nX-Injected: yes"
    owner = BudgetOwner(budget="team-a-*", email="alice@example.com", name="Alice\r\nBcc: evil@example.net")
    action = smtp_action(smtp, owner)
    # No percent, so the budget name goes into the subject.
    action(make_delivery(make_alert(budget_name=hostile_budget, threshold_percent=None)))
    [message] = mailbox.messages
    assert mailbox.envelopes == [("alerts@example.com", ["alice@example.com"])]
    assert "Bcc" not in message and "X-Injected" not in message
    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "X-SNS-Message-Id", "Auto-Submitted",
         "X-Auto-Response-Suppress", "MIME-Version", "Content-Type"]
    )  # fmt: skip
    assert message["To"].addresses[0].addr_spec == "alice@example.com"
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert (
        message["Subject"].strip().startswith("AWS budget team-a-prod Bcc: evil@example.net X-Injected: yes:")
    )


def test_user_resolver_is_called_and_duplicates_dropped() -> None:
    seen: list[BudgetAlert] = []

    def owners_of(alert: BudgetAlert) -> list[Recipient]:
        seen.append(alert)
        return [Recipient("Alice@Example.com", "Alice"), Recipient("alice@example.com", "Alice again")]

    backend = RecordingBackend()
    BudgetEmailAction(backend, owners_of, sender="alerts@example.com")(make_delivery())
    assert seen == [ALERT]
    [message] = backend.sent
    assert message["To"] == "Alice <Alice@Example.com>"
    assert message["From"] == "alerts@example.com"


def test_resolver_may_be_a_generator() -> None:
    def owners_of(alert: BudgetAlert) -> Iterator[Recipient]:
        yield Recipient("alice@example.com")
        yield Recipient("bob@example.com")

    backend = RecordingBackend()
    BudgetEmailAction(backend, owners_of, sender="alerts@example.com")(make_delivery())  # type: ignore[arg-type]
    assert [m["To"] for m in backend.sent] == ["alice@example.com", "bob@example.com"]


def test_resolver_errors_propagate_for_a_retry() -> None:
    def owners_of(alert: BudgetAlert) -> list[Recipient]:
        raise TimeoutError("users database unavailable")

    with pytest.raises(TimeoutError):
        BudgetEmailAction(RecordingBackend(), owners_of, sender="alerts@example.com")(make_delivery())


def test_resolver_must_return_recipients() -> None:
    def owners_of(alert: BudgetAlert) -> list[str]:
        return ["alice@example.com"]

    action = BudgetEmailAction(RecordingBackend(), owners_of, sender="alerts@example.com")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Recipient"):
        action(make_delivery())


def test_custom_subject_template() -> None:
    backend = RecordingBackend()
    action = BudgetEmailAction(
        backend,
        ConfigOwnerResolver([ALICE]),
        sender=SENDER,
        subject_template="[{{ account_id }}] {{ budget_name }} at {{ threshold_percent }}\nof {{ budgeted }}",
    )
    action(make_delivery())
    assert backend.sent[0]["Subject"] == "[123456789012] team-a-prod at 90% of $100.00"


@pytest.mark.parametrize("source", ["{{ broken", "{% if %}"])
def test_invalid_subject_template_fails_at_start(source: str) -> None:
    with pytest.raises(ConfigurationError, match="template"):
        BudgetEmailAction(
            RecordingBackend(), ConfigOwnerResolver([ALICE]), sender=SENDER, subject_template=source
        )


@pytest.mark.parametrize(
    "sender", ["", "not an address", "alerts@example.com\r\nBcc: x@example.net", "a@b@c"]
)
def test_invalid_sender_fails_at_start(sender: str) -> None:
    with pytest.raises(ConfigurationError):
        BudgetEmailAction(RecordingBackend(), ConfigOwnerResolver([ALICE]), sender=sender)


def test_message_id_is_stable_per_message_and_recipient() -> None:
    action, backend = recording_action(ALICE, BOB)
    action(make_delivery())
    action(make_delivery())  # fresh in-memory ledger each time: sent again
    action(make_delivery(message_id="other"))
    ids = [m["Message-ID"] for m in backend.sent]
    assert ids[0] == ids[2] and ids[1] == ids[3]  # same message and recipient: same id
    assert len({ids[0], ids[1], ids[4], ids[5]}) == 4
