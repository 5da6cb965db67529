"""``inbox`` and ``subscriptions`` commands."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ..exceptions import SNSSubscriberError
from ..service.operations import (
    NotFoundError,
    WrongStateError,
    confirm_pending,
    replay_message,
    trusted_hosts,
)
from ..service.runtime import open_configured_store
from .common import config_option, load, one_line_errors

STATUSES = ("received", "processing", "done", "retrying", "dead")
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
            try:
                replay_message(store, message_id, force=force)
            except (NotFoundError, WrongStateError) as exc:
                raise click.ClickException(str(exc)) from None
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
    """Delete done and dead messages last updated more than DAYS ago."""
    store = open_configured_store(load(config_path))
    try:
        count = store.purge(older_than=datetime.now(UTC) - timedelta(days=days))
    finally:
        store.close()
    click.echo(f"purged {count} message(s)")


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
    config = load(config_path)
    store = open_configured_store(config)
    try:
        try:
            record = confirm_pending(store, subscription_id, mode=mode, trusted_hosts=trusted_hosts(config))
        except (NotFoundError, WrongStateError) as exc:
            raise click.ClickException(str(exc)) from None
        except SNSSubscriberError as exc:
            raise click.ClickException(f"confirmation failed: {exc.reason}") from None
        click.echo(f"confirmed {record.topic_arn} ({record.subscription_arn or 'no ARN returned'})")
    finally:
        store.close()
