"""``inbox`` and ``subscriptions`` commands."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ..confirmation import make_confirmer
from ..exceptions import SNSSubscriberError
from ..messages import SubscriptionConfirmation
from ..service.runtime import open_configured_store, tombstone_window
from .common import config_option, load, one_line_errors

STATUSES = ("received", "processing", "done", "retrying", "dead", "test", "stale")
_UNSUBSCRIBE = re.compile(r'("Unsubscribe(?:URL|Url)"\s*:\s*)"[^"]*"')


def redact(body: str) -> str:
    """Hide the UnsubscribeURL: whoever visits it removes the subscription."""
    return _UNSUBSCRIBE.sub(r'\1"(redacted)"', body)


def _record_dict(record: Any, *, body: bool = False) -> dict[str, Any]:
    out = {
        "message_id": record.message_id,
        "status": str(record.status),
        "endpoint": record.endpoint,
        "topic_arn": record.topic_arn,
        "type": record.message_type,
        "subject": record.subject,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "received_at": record.received_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "next_attempt_at": record.next_attempt_at.isoformat() if record.next_attempt_at else None,
    }
    if body:
        out["body"] = redact(record.body.decode("utf-8", "replace"))
    return out


@click.group()
def inbox() -> None:
    """Look at and act on stored messages."""


@inbox.command("ls")
@config_option
@click.option("--status", type=click.Choice(STATUSES), help="Only messages in this status.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@one_line_errors
def inbox_ls(config_path: Path, status: str | None, limit: int, as_json: bool) -> None:
    """List messages, newest first."""
    from ..stores import InboxStatus  # noqa: PLC0415

    store = open_configured_store(load(config_path))
    try:
        records = store.list(status=InboxStatus(status) if status else None, limit=limit)
    finally:
        store.close()
    for record in records:
        if as_json:
            click.echo(json.dumps(_record_dict(record)))
        else:
            click.echo(
                f"{record.message_id}  {record.status!s:<10}  {record.attempts}  "
                f"{record.received_at:%Y-%m-%d %H:%M:%S}  {record.endpoint}  {record.subject or ''}"
            )


@inbox.command("show")
@config_option
@click.argument("message_id")
@one_line_errors
def inbox_show(config_path: Path, message_id: str) -> None:
    """Show one message with its (redacted) body."""
    store = open_configured_store(load(config_path))
    try:
        record = store.get(message_id)
    finally:
        store.close()
    if record is None:
        raise click.ClickException(f"no message {message_id!r} in the inbox")
    click.echo(json.dumps(_record_dict(record, body=True), indent=2))


@inbox.command("replay")
@config_option
@click.argument("message_id", required=False)
@click.option("--status", type=click.Choice(["done", "dead"]), help="Replay every message in this status.")
@click.option(
    "--force", is_flag=True, help="Also repeat actions that already succeeded (e.g. resend e-mails)."
)
@one_line_errors
def inbox_replay(config_path: Path, message_id: str | None, status: str | None, force: bool) -> None:
    """Queue a done or dead message (or all of a status) for processing again."""
    from ..stores import InboxStatus  # noqa: PLC0415

    if (message_id is None) == (status is None):
        raise click.UsageError("give either a MESSAGE_ID or --status")
    store = open_configured_store(load(config_path))
    try:
        if message_id is not None:
            if store.get(message_id) is None:
                raise click.ClickException(f"no message {message_id!r} in the inbox")
            if force:
                store.forget_actions(message_id)
            if not store.replay(message_id):
                raise click.ClickException(f"message {message_id} is not done or dead; nothing to replay")
            click.echo(f"replaying {message_id}")
        else:
            assert status is not None
            if force:
                for record in store.list(status=InboxStatus(status), limit=1_000_000):
                    store.forget_actions(record.message_id)
            count = store.replay_status(InboxStatus(status))
            click.echo(f"replaying {count} message(s)")
    finally:
        store.close()


@inbox.command("purge")
@config_option
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True, help="Age in days.")
@one_line_errors
def inbox_purge(config_path: Path, days: float) -> None:
    """Delete done and dead messages last updated more than DAYS ago.

    Messages received inside the replay window (verification.max_age_seconds plus twice the
    clock skew; two days for confirmations) are kept whatever DAYS says: their MessageId is
    what makes a replayed copy a duplicate.
    """
    from ..retention import purge  # noqa: PLC0415

    config = load(config_path)
    window = tombstone_window(config)
    now = datetime.now(UTC)
    before = now - timedelta(days=days)
    store = open_configured_store(config)
    try:
        count = purge(store, window.cutoffs(now, done_before=before, dead_before=before))
    finally:
        store.close()
    click.echo(f"purged {count} message(s)")
    if timedelta(days=days) < window.confirmations:
        click.echo(
            f"kept messages received in the last {window.notifications.total_seconds() / 60:.0f} minutes "
            f"({window.confirmations.total_seconds() / 3600:.1f} hours for confirmations): replay tombstones"
        )


@inbox.command("stats")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@one_line_errors
def inbox_stats(config_path: Path, as_json: bool) -> None:
    """Messages per status, the oldest of each, and the database size."""
    store = open_configured_store(load(config_path))
    try:
        stats = store.stats()
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "counts": {str(k): v for k, v in stats.counts.items()},
                    "oldest": {str(k): v.isoformat() if v else None for k, v in stats.oldest.items()},
                    "database_bytes": stats.database_bytes,
                }
            )
        )
        return
    for status, count in stats.counts.items():
        oldest = stats.oldest[status]
        since = f"oldest {oldest:%Y-%m-%d %H:%M:%S} UTC" if oldest else ""
        click.echo(f"{status!s:<10}  {count:>10}  {since}".rstrip())
    click.echo(f"{'total':<10}  {sum(stats.counts.values()):>10}")
    click.echo(f"database size: {_size(stats.database_bytes)}")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@click.group()
def subscriptions() -> None:
    """Subscription events (confirmations, unsubscribes)."""


@subscriptions.command("ls")
@config_option
@click.option("--json", "as_json", is_flag=True)
@one_line_errors
def subscriptions_ls(config_path: Path, as_json: bool) -> None:
    """List subscription events, newest first."""
    store = open_configured_store(load(config_path))
    try:
        records = store.list_subscriptions()
    finally:
        store.close()
    for r in records:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": r.id,
                        "state": str(r.state),
                        "topic_arn": r.topic_arn,
                        "endpoint": r.endpoint,
                        "subscription_arn": r.subscription_arn,
                        "created_at": r.created_at.isoformat(),
                    }
                )
            )
        else:
            click.echo(
                f"{r.id:>5}  {r.state!s:<12}  {r.created_at:%Y-%m-%d %H:%M:%S}  {r.endpoint}  {r.topic_arn}  {r.subscription_arn or ''}"
            )


@subscriptions.command("confirm")
@config_option
@click.argument("subscription_id", type=int)
@click.option("--mode", type=click.Choice(["url", "api"]), default="url", show_default=True)
@one_line_errors
def subscriptions_confirm(config_path: Path, subscription_id: int, mode: str) -> None:
    """Confirm a pending subscription (manual mode) by its id from `subscriptions ls`."""
    from ..stores import SubscriptionEvent, SubscriptionState  # noqa: PLC0415

    store = open_configured_store(load(config_path))
    try:
        record = store.get_subscription(subscription_id)
        if record is None:
            raise click.ClickException(f"no subscription event {subscription_id}")
        if record.state != SubscriptionState.PENDING or not record.token or not record.subscribe_url:
            raise click.ClickException(f"subscription event {subscription_id} is {record.state}, not pending")
        message = SubscriptionConfirmation(
            message_id=record.message_id,
            topic_arn=record.topic_arn,
            message="",
            timestamp="",
            signature_version="",
            signature="",
            signing_cert_url="",
            token=record.token,
            subscribe_url=record.subscribe_url,
        )
        try:
            result = make_confirmer(mode).confirm(message)
        except SNSSubscriberError as exc:
            raise click.ClickException(f"confirmation failed: {exc.reason}") from None
        store.record_subscription(
            SubscriptionEvent(
                topic_arn=record.topic_arn,
                endpoint=record.endpoint,
                state=SubscriptionState.CONFIRMED,
                message_id=record.message_id,
                subscription_arn=result.subscription_arn,
                detail=f"manual {mode}",
            )
        )
        click.echo(f"confirmed {record.topic_arn} ({result.subscription_arn or 'no ARN returned'})")
    finally:
        store.close()
