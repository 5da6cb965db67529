"""Replay and confirm: one code path for the CLI and the console (service/operations.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sns_subscriber.confirmation import ManualConfirmer
from sns_subscriber.exceptions import UntrustedSubscribeURLError
from sns_subscriber.messages import SubscriptionConfirmation
from sns_subscriber.service.operations import NotFoundError, WrongStateError, confirm_pending, replay_message
from sns_subscriber.stores import InboxStatus, SubscriptionEvent, SubscriptionState, open_store
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from ..support.console import ConfirmHost, Inbox


def local_confirmation(host: str) -> SubscriptionConfirmation:
    return SubscriptionConfirmation(
        message_id="m", topic_arn=TEST_TOPIC_ARN, message="", timestamp="", signature_version="2",
        signature="", signing_cert_url="", token="t",
        subscribe_url=f"http://{host}/?Action=ConfirmSubscription&TopicArn={TEST_TOPIC_ARN}&Token=t",
    )  # fmt: skip


def test_manual_mode_stores_a_local_subscribe_url_only_for_a_trusted_host() -> None:
    """SSRF: a SubscribeURL on another host is refused before it is stored, unless that host
    is the one LocalStack is configured on."""
    with pytest.raises(UntrustedSubscribeURLError):
        ManualConfirmer().confirm(local_confirmation("127.0.0.1:9"))
    with pytest.raises(UntrustedSubscribeURLError):
        ManualConfirmer(trusted_hosts=frozenset({"127.0.0.1:8"})).confirm(local_confirmation("127.0.0.1:9"))
    result = ManualConfirmer(trusted_hosts=frozenset({"127.0.0.1:9"})).confirm(
        local_confirmation("127.0.0.1:9")
    )
    assert (result.confirmed, result.method) == (False, "manual")


def test_confirm_pending_refuses_what_is_no_longer_pending(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
    try:
        pending = store.record_subscription(
            SubscriptionEvent(
                topic_arn=TEST_TOPIC_ARN, endpoint="/sns", state=SubscriptionState.PENDING, message_id="m",
                token="t", subscribe_url="https://sns.us-east-1.amazonaws.com/?x",
            )
        )  # fmt: skip
        store.record_subscription(
            SubscriptionEvent(
                topic_arn=TEST_TOPIC_ARN,
                endpoint="/sns",
                state=SubscriptionState.UNSUBSCRIBED,
                message_id="u",
            )
        )
        with pytest.raises(WrongStateError, match="no longer pending"):
            confirm_pending(store, pending.id, mode="url")
        with pytest.raises(NotFoundError):
            confirm_pending(store, 999, mode="url")
        with pytest.raises(NotFoundError):
            replay_message(store, "missing")
    finally:
        store.close()


def test_the_cli_replays_and_confirms_through_the_same_operations(
    tmp_path: Path, sns_kit: SNSTestKit
) -> None:
    host = ConfirmHost()
    with host.running():
        cert_dir = sns_kit.write_cert_dir(tmp_path / "certs")
        config = tmp_path / "sns-subscriber.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///inbox.db"\n[verification]\ncert_dir = "{cert_dir}"\n'
            f'[localstack]\nenabled = true\nhost = "{host.address}"\n'
            f'[[endpoints]]\npath = "/sns"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"\n',
            encoding="utf-8",
        )
        store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
        inbox = Inbox(sns_kit, store, cert_dir, trusted_hosts=frozenset({host.address}))
        inbox.failing = True
        dead = inbox.notify("fails")
        inbox.process()
        inbox.pending_subscription(confirm_host=host.address)
        [pending] = store.list_subscriptions()

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "sns_subscriber", *args, "--config", str(config)],
                cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip

        assert cli("inbox", "replay", dead).stdout.strip() == f"replaying {dead}"
        again = cli("inbox", "replay", dead)
        assert (again.returncode, "not done or dead" in again.stderr) == (1, True)
        assert "no message 'nope'" in cli("inbox", "replay", "nope").stderr
        confirmed = cli("subscriptions", "confirm", str(pending.id))
        assert confirmed.returncode == 0, confirmed.stderr
        assert (
            confirmed.stdout.strip() == f"confirmed {TEST_TOPIC_ARN} ({TEST_TOPIC_ARN}:confirmed-by-console)"
        )
        assert "was already confirmed" in cli("subscriptions", "confirm", str(pending.id)).stderr
        assert store.get(dead).status is InboxStatus.RECEIVED  # type: ignore[union-attr]
        store.close()
