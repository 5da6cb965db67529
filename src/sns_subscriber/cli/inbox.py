"""``inbox`` and ``subscriptions`` commands."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import click

from ..exceptions import SNSSubscriberError
from ..redaction import terminal_safe
from ..service.operations import NotFoundError, WrongStateError, confirm_pending, replay_message
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


#: Columns of ``inbox ls``: header and width.
_LS_COLUMNS: Final = (("MESSAGE ID", 36), ("STATUS", 10), ("TRIES", 5), ("RECEIVED (UTC)", 19),
                      ("ENDPOINT", 20), ("SUBJECT", 32), ("ERROR", 60))  # fmt: skip


def _cell(text: str | None, width: int) -> str:
    """``text`` made safe for a terminal, cut to ``width`` (with an ellipsis) and padded."""
    safe = terminal_safe(text)
    if len(safe) > width:
        safe = safe[: width - 1] + "…"
    return safe.ljust(width)


def _ls_line(values: tuple[str | None, ...]) -> str:
    return "  ".join(_cell(v, w) for v, (_, w) in zip(values, _LS_COLUMNS, strict=True)).rstrip()


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
        records = store.list_messages(status=InboxStatus(status) if status else None, limit=limit)
    finally:
        store.close()
    if as_json:  # JSON escapes every control character itself
        for record in records:
            click.echo(json.dumps(_record_dict(record)))
        return
    if not records:
        click.echo(f"no {status} messages in the inbox" if status else "the inbox is empty")
        return
    click.echo(_ls_line(tuple(name for name, _ in _LS_COLUMNS)))
    for record in records:
        click.echo(
            _ls_line(
                (
                    record.message_id,
                    str(record.status),
                    str(record.attempts),
                    f"{record.received_at:%Y-%m-%d %H:%M:%S}",
                    record.endpoint,
                    record.subject or "",
                    _first_line(record.last_error),
                )
            )
        )


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


@inbox.command("show")
@config_option
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (the body as a string).")
@one_line_errors
def inbox_show(config_path: Path, message_id: str, as_json: bool) -> None:
    """Show one message with its body, pretty-printed (UnsubscribeURL redacted)."""
    store = open_configured_store(load(config_path))
    try:
        record = store.get(message_id)
    finally:
        store.close()
    if record is None:
        raise click.ClickException(f"no message {terminal_safe(message_id)!r} in the inbox")
    if as_json:
        click.echo(json.dumps(_record_dict(record, body=True), indent=2))
        return
    fields = _record_dict(record)
    for key in ("message_id", "status", "attempts", "endpoint", "topic_arn", "type", "subject",
                "received_at", "updated_at", "next_attempt_at", "last_error"):  # fmt: skip
        value = fields[key]
        if value is not None:
            click.echo(f"{key + ':':<17}{terminal_safe(str(value))}")
    click.echo("body:")
    for line in pretty_body(record.body):
        click.echo(f"  {line}".rstrip())


def pretty_body(body: bytes) -> list[str]:
    """The body as lines for a terminal: a JSON envelope indented (UnsubscribeURL redacted, a
    JSON ``Message`` shown parsed, a text ``Message`` also shown as its lines); any other body
    as its text. Every line is :func:`terminal_safe`."""
    text = body.decode("utf-8", "replace")
    try:
        envelope = json.loads(text)
    except ValueError:
        return [terminal_safe(line) for line in text.splitlines()]
    if not isinstance(envelope, dict):
        return json.dumps(envelope, indent=2).splitlines()
    shown: dict[str, Any] = {}
    for key, value in envelope.items():
        shown[key] = "(redacted)" if key in ("UnsubscribeURL", "UnsubscribeUrl") else value
    message = shown.get("Message")
    text_lines: list[str] = []
    if isinstance(message, str):
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            shown["Message"] = parsed
        elif "\n" in message:
            text_lines = ["", "Message, as text:", *(terminal_safe(line) for line in message.splitlines())]
    # ensure_ascii: every control or non-ASCII character of the body is printed as an escape.
    return json.dumps(shown, indent=2).splitlines() + text_lines


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
            record = store.get(message_id)
            if record is not None and record.status == InboxStatus.DONE and not force:
                click.echo(_SKIPPED_DONE.format(f"message {terminal_safe(message_id)}"))
                return
            try:
                replay_message(store, message_id, force=force)
            except (NotFoundError, WrongStateError) as exc:
                raise click.ClickException(terminal_safe(str(exc))) from None
            click.echo(f"replaying {terminal_safe(message_id)}")
        else:
            assert status is not None
            if status == InboxStatus.DONE and not force:
                count = store.counts()[InboxStatus.DONE]
                click.echo(_SKIPPED_DONE.format(f"{count} done message(s)"))
                return
            if force:
                for listed in store.list_messages(status=InboxStatus(status), limit=1_000_000):
                    store.forget_actions(listed.message_id)
            count = store.replay_status(InboxStatus(status))
            click.echo(f"replaying {count} message(s)")
    finally:
        store.close()


#: Why a done message is not replayed without --force.
_SKIPPED_DONE: Final = (
    "skipped {}: done messages are not replayed without --force, because every action that "
    "succeeded for them would be skipped again (each runs once per message) and replaying would "
    "do nothing. Add --force to run their actions again (e.g. resend the e-mails)."
)


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


@inbox.command("rejected")
@config_option
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@one_line_errors
def inbox_rejected(config_path: Path, limit: int, as_json: bool) -> None:
    """List messages the SQS pollers and `dlq drain` refused and left in their queue, newest first."""
    store = open_configured_store(load(config_path))
    try:
        records = store.list_rejections(limit=limit)
    finally:
        store.close()
    for r in records:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "source": r.source,
                        "message_id": r.message_id,
                        "reason": r.reason,
                        "created_at": r.created_at.isoformat(),
                    }
                )
            )
        else:
            click.echo(f"{r.created_at:%Y-%m-%d %H:%M:%S}  {r.source}  {r.message_id}  {r.reason}")


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
    if not records and not as_json:
        click.echo("no subscription events yet")
        return
    if not as_json:
        click.echo(
            f"{'ID':>5}  {'STATE':<12}  {'CREATED (UTC)':<19}  ENDPOINT  TOPIC  SUBSCRIPTION ARN  DETAIL"
        )
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
                f"{r.id:>5}  {r.state!s:<12}  {r.created_at:%Y-%m-%d %H:%M:%S}  {terminal_safe(r.endpoint)}  "
                f"{terminal_safe(r.topic_arn)}  {terminal_safe(r.subscription_arn) or '-'}  {terminal_safe(r.detail)}"
            )


@subscriptions.command("confirm")
@config_option
@click.argument("subscription_id", type=int)
@click.option("--mode", type=click.Choice(["url", "api"]), default="url", show_default=True)
@one_line_errors
def subscriptions_confirm(config_path: Path, subscription_id: int, mode: str) -> None:
    """Confirm a pending subscription (manual mode) by its id from `subscriptions ls`."""
    from ..service.aws import configured_confirmer, localstack_hosts  # noqa: PLC0415

    config = load(config_path)
    store = open_configured_store(config)
    try:
        try:
            record = confirm_pending(
                store,
                subscription_id,
                mode=mode,
                confirmer=lambda chosen: configured_confirmer(config, chosen, localstack_hosts(config)),
            )
        except (NotFoundError, WrongStateError) as exc:
            raise click.ClickException(terminal_safe(str(exc))) from None
        except SNSSubscriberError as exc:
            raise click.ClickException(f"confirmation failed: {terminal_safe(exc.reason)}") from None
        click.echo(
            f"confirmed {terminal_safe(record.topic_arn)} ({terminal_safe(record.subscription_arn) or 'no ARN returned'})"
        )
    finally:
        store.close()
