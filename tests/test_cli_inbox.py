"""``inbox ls/show/replay`` and ``subscriptions``: readable, and never obeying what a sender wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sns_subscriber.cli.app import cli
from sns_subscriber.stores import (
    InboxStatus,
    InboxStore,
    NewMessage,
    SubscriptionEvent,
    SubscriptionState,
    open_store,
)
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

#: Clear the screen, plant a hyperlink, and overwrite the line with a forged one.
HOSTILE = "\x1b[2J\x1b]8;;https://evil.example/\x07Click here\x1b]8;;\x07\rFAKE: all good\x9b0m"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sns-subscriber.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "inbox.db"}"\n\n'
        f'[[endpoints]]\npath = "/sns"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
    yield store
    store.close()


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args[:2], "--config", str(config), *args[2:]])


def add(store: InboxStore, kit: SNSTestKit, *, subject: str | None = "hello", message: str = "text") -> str:
    # SNS (and so the kit) refuses control characters in a signed Subject; the inbox column can
    # still hold one (rows stored before that check), so the hostile text goes there.
    signed_subject = subject if subject is None or subject.isprintable() else None
    fields = kit.notification(TEST_TOPIC_ARN, message, subject=signed_subject)
    store.add(
        NewMessage(
            message_id=fields["MessageId"],
            endpoint="/sns",
            topic_arn=TEST_TOPIC_ARN,
            message_type="Notification",
            subject=subject,
            body=kit.body(fields),
        )
    )
    return str(fields["MessageId"])


def finish(store: InboxStore, message_id: str, status: InboxStatus, error: str = "boom") -> None:
    [claimed] = store.claim("w", limit=1)
    assert claimed.message_id == message_id
    if status == InboxStatus.DONE:
        assert store.complete(message_id, "w", actions=["handler:/sns:budget-email"])
    else:
        assert store.fail(message_id, "w", error=error)


def test_inbox_ls_and_show_never_print_terminal_escapes(
    config: Path, store: InboxStore, sns_kit: SNSTestKit
) -> None:
    """Attack: escape sequences in a Subject, a Message or an error text (ESC[2J clears the
    screen, OSC 8 plants a hyperlink, CR overwrites the line with a forged one): the operator's
    terminal must print them, not obey them."""
    message_id = add(store, sns_kit, subject=HOSTILE, message=f"line one\n{HOSTILE}")
    finish(store, message_id, InboxStatus.DEAD, error=f"handler failed: {HOSTILE}")
    for args in (("inbox", "ls"), ("inbox", "show", message_id), ("inbox", "show", message_id, "--json")):
        output = run(config, *args).output
        assert not any(c in output for c in "\x1b\x07\r\x9b"), args
        assert "\\x1b[2J" in output or "\\u001b[2J" in output, args  # shown, as an escape


def test_inbox_ls_has_a_header_an_error_column_and_says_when_empty(
    config: Path, store: InboxStore, sns_kit: SNSTestKit
) -> None:
    assert run(config, "inbox", "ls").output == "the inbox is empty\n"
    assert run(config, "inbox", "ls", "--status", "dead").output == "no dead messages in the inbox\n"
    assert run(config, "inbox", "ls", "--json").output == ""
    first = add(store, sns_kit, subject="budget")
    finish(
        store, first, InboxStatus.DEAD, error="SMTPRecipientsRefused: 550 mailbox unavailable\nmore detail"
    )
    header, row = run(config, "inbox", "ls").output.splitlines()
    assert header.split() == [
        "MESSAGE",
        "ID",
        "STATUS",
        "TRIES",
        "RECEIVED",
        "(UTC)",
        "ENDPOINT",
        "SUBJECT",
        "ERROR",
    ]
    assert row.startswith(f"{first}  dead ")
    assert row.endswith("budget                            SMTPRecipientsRefused: 550 mailbox unavailable")
    assert header.index("ERROR") == row.index("SMTPRecipientsRefused")


def test_inbox_show_pretty_prints_the_body_with_the_unsubscribe_url_redacted(
    config: Path, store: InboxStore, sns_kit: SNSTestKit
) -> None:
    budget = add(store, sns_kit, message="AWS Budget Notification\nBudget Name: team-a")
    as_json = add(store, sns_kit, message=json.dumps({"AlarmName": "high-cpu", "NewStateValue": "ALARM"}))
    output = run(config, "inbox", "show", budget).output
    assert f"message_id:      {budget}" in output
    assert '    "Type": "Notification",' in output
    assert '    "UnsubscribeURL": "(redacted)"' in output
    assert "Action=Unsubscribe" not in output
    assert "  Message, as text:\n  AWS Budget Notification\n  Budget Name: team-a\n" in output
    output = run(config, "inbox", "show", as_json).output
    assert '    "Message": {\n      "AlarmName": "high-cpu",' in output
    machine = json.loads(run(config, "inbox", "show", budget, "--json").output)
    assert '"UnsubscribeURL": "(redacted)"' in machine["body"]


def test_replay_of_a_done_message_without_force_says_it_skipped_it_and_why(
    config: Path, store: InboxStore, sns_kit: SNSTestKit
) -> None:
    done = add(store, sns_kit)
    finish(store, done, InboxStatus.DONE)
    result = run(config, "inbox", "replay", done)
    assert result.exit_code == 0
    assert result.output.startswith(f"skipped message {done}: done messages are not replayed without --force")
    assert "Add --force" in result.output
    assert store.get(done).status == InboxStatus.DONE  # type: ignore[union-attr]
    assert run(config, "inbox", "replay", "--status", "done").output.startswith("skipped 1 done message(s):")
    assert run(config, "inbox", "replay", done, "--force").output == f"replaying {done}\n"
    assert store.get(done).status == InboxStatus.RECEIVED  # type: ignore[union-attr]
    assert not store.action_succeeded(done, "handler:/sns:budget-email")


def test_replay_of_a_dead_message_needs_no_force(
    config: Path, store: InboxStore, sns_kit: SNSTestKit
) -> None:
    dead = add(store, sns_kit)
    finish(store, dead, InboxStatus.DEAD)
    assert run(config, "inbox", "replay", dead).output == f"replaying {dead}\n"
    assert store.get(dead).status == InboxStatus.RECEIVED  # type: ignore[union-attr]
    result = run(config, "inbox", "replay", dead)
    assert result.exit_code == 1
    assert f"message {dead} is received, not done or dead" in result.output


def test_subscriptions_confirm_refuses_an_already_confirmed_subscription(
    config: Path, store: InboxStore
) -> None:
    """Replaying ``subscriptions confirm`` must not call out to SNS again: nothing is fetched."""
    pending = store.record_subscription(
        SubscriptionEvent(
            topic_arn=TEST_TOPIC_ARN,
            endpoint="/sns",
            state=SubscriptionState.PENDING,
            message_id="sub-1",
            token="ab" * 64,
            subscribe_url="https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        )
    )
    confirmed = store.record_subscription(
        SubscriptionEvent(
            topic_arn=TEST_TOPIC_ARN, endpoint="/sns", state=SubscriptionState.CONFIRMED, message_id="sub-1"
        )
    )
    result = run(config, "subscriptions", "confirm", str(pending.id))
    assert result.exit_code == 1
    assert f"was already confirmed (event {confirmed.id}); nothing to do" in result.output
    assert len(store.list_subscriptions()) == 2


def test_subscriptions_ls_has_a_header_and_says_when_empty(config: Path, store: InboxStore) -> None:
    assert run(config, "subscriptions", "ls").output == "no subscription events yet\n"
    store.record_subscription(
        SubscriptionEvent(
            topic_arn=TEST_TOPIC_ARN,
            endpoint="/sns",
            state=SubscriptionState.PENDING,
            message_id="sub-1",
            detail="manual",
        )
    )
    header, row = run(config, "subscriptions", "ls").output.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "CREATED"]
    assert row.split()[1] == "pending" and row.endswith(f"/sns  {TEST_TOPIC_ARN}  -  manual")


def test_subscriptions_ls_neutralises_escapes(config: Path, store: InboxStore) -> None:
    store.record_subscription(
        SubscriptionEvent(
            topic_arn=TEST_TOPIC_ARN,
            endpoint="/sns",
            state=SubscriptionState.CONFIRMED,
            message_id="sub-1",
            subscription_arn=f"{TEST_TOPIC_ARN}:{HOSTILE}",
        )
    )
    output = run(config, "subscriptions", "ls").output
    assert "\x1b" not in output and "\r" not in output and "\\x1b[2J" in output
