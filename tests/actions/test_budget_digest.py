"""Budget digests: alerts of a digest owner are queued durably and sent as one e-mail per owner,
once, across retries, restarts and processes (SQLite and the real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sns_subscriber.actions import BudgetEmailAction, BudgetOwner, ConfigOwnerResolver, Recipient
from sns_subscriber.actions.budget_digest import DigestQueue, DigestSender, next_digest_time
from sns_subscriber.cli.app import cli
from sns_subscriber.exceptions import ConfigurationError
from sns_subscriber.producers.budgets import BudgetAlert, parse_budget_alert
from sns_subscriber.stores import InboxStore, open_store
from sns_subscriber.testing import samples

from ..support.clock import FakeClock
from .conftest import Ledger, RecordingBackend, make_alert, make_delivery

PAST = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)  # a Saturday: alerts are queued then
NEXT_DAY = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # the daily digest is due, the weekly one not


def alert(name: str = "team-a-prod", amount: str = "95.12") -> BudgetAlert:
    """A real-format alert: digests re-read the alert text, as stored."""
    return parse_budget_alert(
        samples.budget_alert(budget_name=name, amount=amount, when=date(2026, 11, 28))[1]
    )


@pytest.mark.parametrize(
    ("now", "frequency", "due"),
    [
        (datetime(2026, 11, 28, 7, 59, tzinfo=UTC), "daily", datetime(2026, 11, 28, 8, tzinfo=UTC)),
        (datetime(2026, 11, 28, 8, 0, tzinfo=UTC), "daily", datetime(2026, 11, 29, 8, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), "daily", datetime(2027, 1, 1, 8, tzinfo=UTC)),
        # 2026-11-28 is a Saturday: the next Monday 08:00.
        (datetime(2026, 11, 28, 9, 0, tzinfo=UTC), "weekly", datetime(2026, 11, 30, 8, tzinfo=UTC)),
        (datetime(2026, 11, 30, 7, 0, tzinfo=UTC), "weekly", datetime(2026, 11, 30, 8, tzinfo=UTC)),
        (datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "weekly", datetime(2026, 12, 7, 8, tzinfo=UTC)),
    ],
)
def test_next_digest_time(now: datetime, frequency: str, due: datetime) -> None:
    assert next_digest_time(now, frequency, hour=8, weekday="monday") == due


@pytest.mark.parametrize(("hour", "weekday"), [(24, "monday"), (-1, "monday"), (8, "funday")])
def test_bad_schedule_is_refused(hour: int, weekday: str) -> None:
    with pytest.raises(ConfigurationError):
        next_digest_time(PAST, "daily", hour=hour, weekday=weekday)


def test_owner_digest_must_be_daily_or_weekly() -> None:
    with pytest.raises(ConfigurationError, match="daily or weekly"):
        BudgetOwner(budget="*", email="a@example.com", digest="hourly")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NEXT_DAY)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[InboxStore]:
    s = open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock)
    yield s
    s.close()


def digest_action(store: InboxStore, backend: RecordingBackend, when: datetime = PAST) -> BudgetEmailAction:
    owners = [
        BudgetOwner(budget="team-a-*", email="alice@example.com", name="Alice", digest="daily"),
        BudgetOwner(budget="team-*", email="bob@example.com", name="Bob"),
    ]
    return BudgetEmailAction(
        backend,
        ConfigOwnerResolver(owners, fallback=[Recipient("finance@example.com", digest="weekly")]),
        sender="alerts@example.com",
        digests=DigestQueue(store, hour=8, clock=lambda: when),
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def test_digest_owner_gets_one_email_with_every_alert_once(store: InboxStore, clock: FakeClock) -> None:
    backend = RecordingBackend()
    action = digest_action(store, backend)
    ledger = Ledger()
    action(make_delivery(alert(), ledger=ledger, message_id="m1"))
    action(make_delivery(alert(), ledger=ledger, message_id="m1"))  # redelivered: queued once
    action(make_delivery(alert("team-a-dev", "12.00"), ledger=ledger, message_id="m2"))
    action(make_delivery(alert("orphan"), ledger=ledger, message_id="m3"))  # fallback, weekly
    # Bob has no digest: an e-mail per alert, at once. Alice's wait for her digest.
    assert [m["To"] for m in backend.sent] == ["Bob <bob@example.com>"] * 2

    sender = DigestSender(store, backend, sender="alerts@example.com", clock=clock)
    assert sender.send_due() == 1  # Alice's daily digest is due; the weekly one is not yet
    digest = backend.sent[-1]
    assert digest["To"] == "Alice <alice@example.com>"
    assert digest["Subject"] == "AWS budgets digest: 2 alerts (team-a-prod, team-a-dev)"
    text, html = parts(digest)
    for fact in (
        "Hello Alice,",
        "Your AWS budgets digest: 2 alerts.",
        "1. AWS budget team-a-prod: actual $95.12 passed 90% of $100.00",
        "2. AWS budget team-a-dev: actual $12.00 passed 90% of $100.00",
        "AWS account: 123456789012",
        "Period:      November 2026, day 28 of 30 (93% through)",
        "Console:     https://console.aws.amazon.com/costmanagement/home#/budgets/details?name=team-a-dev",
    ):
        assert fact in text, fact
    assert "<strong>AWS budget team-a-dev: actual $12.00 passed 90% of $100.00</strong>" in html
    assert "Period: November 2026, day 28 of 30 (93% through)" in html
    assert sender.send_due() == 0  # sent once, never again

    assert sender.send_due(everything=True) == 1  # "digest send --now": the weekly one too
    weekly = backend.sent[-1]
    assert weekly["To"] == "finance@example.com"
    assert 'no owner matched budget "orphan"' in parts(weekly)[0]
    assert sender.send_due(everything=True) == 0


def test_failed_digest_is_kept_and_sent_by_the_next_pass_after_a_restart(
    store: InboxStore, tmp_path: Path, clock: FakeClock
) -> None:
    action = digest_action(store, RecordingBackend())
    action(make_delivery(alert(), message_id="m1"))
    refusing = RecordingBackend(fail_for={"alice@example.com"})
    assert DigestSender(store, refusing, sender="alerts@example.com").send_due() == 0
    store.close()
    reopened = open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock)  # a restart
    try:
        backend = RecordingBackend()
        assert DigestSender(reopened, backend, sender="alerts@example.com").send_due() == 1
        assert DigestSender(reopened, backend, sender="alerts@example.com").send_due() == 1 - 1
        assert [m["To"] for m in backend.sent] == ["Alice <alice@example.com>"]
    finally:
        reopened.close()


def test_digest_email_escapes_the_budget_name_in_html(store: InboxStore) -> None:
    backend = RecordingBackend()
    action = digest_action(store, backend)
    action(make_delivery(alert("team-a-<script>x</script>"), message_id="m1"))
    DigestSender(store, backend, sender="alerts@example.com").send_due()
    _, html = parts(backend.sent[-1])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_cli_digest_send_now(tmp_path: Path) -> None:
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///inbox.db"\n'
        '[email]\nbackend = "file"\noutbox_dir = "outbox"\nfrom = "alerts@example.com"\n'
        '[[endpoints]]\npath = "/budget-subscriber"\ntopics = ["arn:aws:sns:us-east-1:123456789012:budget-alerts"]\n'
        'actions = ["budget-email"]\n'
        '[[budget_owners]]\nbudget = "*"\nemail = "alice@example.com"\ndigest = "weekly"\n'
    )
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
    try:
        owner = Recipient("alice@example.com", digest="weekly")
        DigestQueue(store, clock=lambda: datetime.now(UTC)).add(make_delivery(), make_alert(), owner)
    finally:
        store.close()
    runner = CliRunner()
    due = runner.invoke(cli, ["digest", "send", "--config", str(config)])
    assert (due.exit_code, due.output) == (0, "sent 0 digest(s)\n")  # the weekly digest is not due yet
    now = runner.invoke(cli, ["digest", "send", "--now", "--config", str(config)])
    assert (now.exit_code, now.output) == (0, "sent 1 digest(s)\n")
    [eml] = (tmp_path / "outbox").glob("*.eml")
    message: Any = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "AWS budgets digest: 1 alert (team-a-prod)"
    again = runner.invoke(cli, ["digest", "send", "--now", "--config", str(config)])
    assert again.output == "sent 0 digest(s)\n"


def test_cli_digest_send_without_digest_owners_says_so(tmp_path: Path) -> None:
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///inbox.db"\n[email]\nbackend = "console"\n'
        '[[endpoints]]\npath = "/b"\ntopics = ["arn:aws:sns:us-east-1:123456789012:b"]\nactions = ["budget-email"]\n'
    )
    result = CliRunner().invoke(cli, ["digest", "send", "--now", "--config", str(config)])
    assert result.exit_code != 0
    assert "no [[budget_owners]] entry has digest set" in result.output
    assert "Traceback" not in result.output
