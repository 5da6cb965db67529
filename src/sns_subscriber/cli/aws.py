"""The AWS-side commands: ``poll``, ``subscriptions apply|check``, ``dlq drain``, ``budgets``."""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from ..aws.dlq import drain
from ..aws.subscriptions import DLQ_NAME, Inbox, Row, ensure_dead_letter_queue
from ..aws.subscriptions import apply as apply_subscriptions
from ..aws.subscriptions import check as check_subscriptions
from .common import config_option, load, one_line_errors
from .inbox import subscriptions

__all__ = ["budgets", "dlq", "poll", "subscriptions"]

F = TypeVar("F", bound=Callable[..., Any])


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Receive one batch per queue (short poll), then exit.")
@one_line_errors
def poll(config_path: Path, once: bool) -> None:
    """Run only the SQS pollers of the configured [[queues]] (no HTTP, no worker)."""
    from ..service.logs import configure_logging  # noqa: PLC0415
    from ..service.queues import build_pollers, run_pollers  # noqa: PLC0415
    from ..service.runtime import build_runtime  # noqa: PLC0415

    config = load(config_path)
    if not config.queues:
        raise click.UsageError(f"{config.source} has no [[queues]] to poll")
    configure_logging(config.get("service.log_format"), config.get("service.log_level"))
    runtime = build_runtime(config, with_actions=False)
    try:
        pollers = build_pollers(runtime)
        if once:
            for poller in pollers:
                count = poller.poll_once(wait_seconds=0)
                status = poller.status
                click.echo(
                    f"{poller.name}: received {count}, accepted {status.accepted}, "
                    f"duplicates {status.duplicates}, rejected {status.rejected}"
                )
            return
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()  # the current batch finishes first

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        for thread in run_pollers(pollers, stop):
            while thread.is_alive():
                thread.join(1.0)
    finally:
        runtime.close()


def aws_errors(func: F) -> F:
    """AWS errors (credentials, network, API) as one line, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
        except ModuleNotFoundError:  # the commands raise MissingExtraError themselves
            return func(*args, **kwargs)
        try:
            return func(*args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise click.ClickException(f"AWS: {exc}") from None

    return wrapper  # type: ignore[return-value]


def _table(rows: list[Row], *, with_done: bool) -> None:
    header = ["TARGET", "ENDPOINT", "TOPIC", "FOUND", "DONE" if with_done else "LAST MESSAGE", "ATTENTION"]
    lines = [header]
    for row in rows:
        if with_done:
            fourth = ", ".join(row.done) or "-"
        else:
            fourth = f"{row.last_message_at:%Y-%m-%d %H:%M:%S}" if row.last_message_at else "-"
        lines.append(
            [row.target, row.endpoint, row.topic_arn, row.found, fourth, "; ".join(row.problems) or "ok"]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[-1]
        )


public_url_option = click.option(
    "--public-url",
    required=True,
    help="The URL SNS reaches this service at (the endpoint paths are appended).",
)


@subscriptions.command("apply")
@config_option
@public_url_option
@click.option(
    "--dead-letter-queue",
    "dead_letter_queue",
    help=f"'create' (an SQS queue named {DLQ_NAME}, with its policy) or the ARN of an existing queue.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@one_line_errors
@aws_errors
def subscriptions_apply(
    config_path: Path, public_url: str, dead_letter_queue: str | None, dry_run: bool
) -> None:
    """Make the SNS subscriptions of every endpoint and queue exist, as configured."""
    from ..service.aws import aws_clients, subscription_targets  # noqa: PLC0415

    config = load(config_path)
    clients = aws_clients(config)
    sqs = clients.sqs()
    targets = subscription_targets(config, public_url, sqs)
    if not targets:
        raise click.ClickException("no endpoint or queue has a topic ARN without wildcards to subscribe to")
    dlq_arn = dead_letter_queue
    dlq_done: list[str] = []
    if dead_letter_queue == "create":
        topics = sorted({t.topic_arn for t in targets})
        dlq_arn, dlq_done = ensure_dead_letter_queue(sqs, topics, dry_run=dry_run)
    elif dead_letter_queue is not None and not dead_letter_queue.startswith("arn:"):
        raise click.UsageError("--dead-letter-queue must be 'create' or an SQS queue ARN")
    rows = apply_subscriptions(clients.sns, targets, dlq_arn=dlq_arn, dry_run=dry_run, sqs=sqs)
    if dlq_arn:
        click.echo(f"dead-letter queue: {dlq_arn}" + (f" ({', '.join(dlq_done)})" if dlq_done else ""))
    _table(rows, with_done=True)
    changes = sum(len(r.done) for r in rows) + len(dlq_done)
    if changes == 0:
        click.echo("nothing to change: every subscription is as configured")
    else:
        click.echo(f"{'would make' if dry_run else 'made'} {changes} change(s)")


@subscriptions.command("check")
@config_option
@public_url_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")
@one_line_errors
@aws_errors
def subscriptions_check(config_path: Path, public_url: str, as_json: bool) -> None:
    """Report the real SNS subscriptions of every endpoint and queue; exit 1 if any needs attention."""
    from ..service.aws import aws_clients, subscription_targets  # noqa: PLC0415
    from ..service.runtime import open_configured_store  # noqa: PLC0415

    config = load(config_path)
    clients = aws_clients(config)
    sqs = clients.sqs()
    targets = subscription_targets(config, public_url, sqs)
    store = open_configured_store(config)
    try:
        rows = check_subscriptions(clients.sns, targets, _inbox(store), sqs=sqs)
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {"ok": all(r.ok for r in rows), "subscriptions": [r.as_dict() for r in rows]}, indent=2
            )
        )
    else:
        _table(rows, with_done=False)
    if not all(r.ok for r in rows):
        raise SystemExit(1)


#: How far back `check` looks for the last message of each endpoint and topic.
_RECENT_MESSAGES = 5000


def _inbox(store: Any) -> Inbox:
    from ..stores import SubscriptionState  # noqa: PLC0415

    events = store.list_subscriptions()  # newest first
    recent = store.list_messages(limit=_RECENT_MESSAGES)

    def pending_since(target: str, topic: str) -> datetime | None:
        for event in events:
            if (event.endpoint, event.topic_arn) == (target, topic):
                return event.created_at if event.state == SubscriptionState.PENDING else None
        return None

    def last_message_at(target: str, topic: str) -> datetime | None:
        for record in recent:
            if (record.endpoint, record.topic_arn) == (target, topic):
                received: datetime = record.received_at
                return received
        return None

    return Inbox(pending_since=pending_since, last_message_at=last_message_at)


@click.group()
def dlq() -> None:
    """Dead-letter queues of SNS subscriptions."""


@dlq.command("drain")
@config_option
@click.option("--queue-url", required=True, help="URL of the dead-letter queue.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@one_line_errors
@aws_errors
def dlq_drain(config_path: Path, queue_url: str, limit: int) -> None:
    """Move dead-lettered messages into the inbox (verified when signed), then delete them."""
    from ..service.queues import build_drainer  # noqa: PLC0415
    from ..service.runtime import build_runtime  # noqa: PLC0415

    runtime = build_runtime(load(config_path), with_actions=False)
    try:
        poller, handler = build_drainer(runtime, queue_url)
        result = drain(poller, handler, limit=limit)
    finally:
        runtime.close()
    click.echo(
        f"{poller.name}: received {result.received}; moved into the inbox {result.verified} verified "
        f"and {result.unverified} unsigned (AWS-API-sourced); {result.duplicates} already in the inbox; "
        f"{result.rejected} rejected (left in the queue)"
    )
    if result.rejected:
        raise SystemExit(1)


@click.group()
def budgets() -> None:
    """AWS Budgets alerts to SNS."""


account_option = click.option("--account", help="12-digit AWS account ID (default: the caller's, from STS).")


def _account(clients: Any, account: str | None) -> str:
    if account is not None:
        if not (len(account) == 12 and account.isdigit()):
            raise click.UsageError("--account must be a 12-digit AWS account ID")
        return account
    identity: str = clients.sts().get_caller_identity()["Account"]
    return identity


@budgets.command("connect")
@config_option
@click.option("--budget", required=True, help="Budget name.")
@click.option("--topic", required=True, help="ARN of the SNS topic the alerts go to.")
@account_option
@one_line_errors
@aws_errors
def budgets_connect(config_path: Path, budget: str, topic: str, account: str | None) -> None:
    """Let Budgets publish to TOPIC and send every notification of BUDGET there."""
    from ..aws.budgets import connect  # noqa: PLC0415
    from ..messages import TopicArn  # noqa: PLC0415
    from ..service.aws import aws_clients  # noqa: PLC0415

    parsed = TopicArn.parse(topic)
    if parsed is None:
        raise click.UsageError("--topic must be an SNS topic ARN")
    clients = aws_clients(load(config_path))
    account_id = _account(clients, account)
    done = connect(
        clients.sns(parsed.region), clients.budgets(), account_id=account_id, budget=budget, topic_arn=topic
    )
    for line in done:
        click.echo(f"{budget}: {line}")
    if not done:
        click.echo(f"{budget}: already connected to {topic}; nothing to change")


@budgets.command("check")
@config_option
@account_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")
@one_line_errors
@aws_errors
def budgets_check(config_path: Path, account: str | None, as_json: bool) -> None:
    """List the account's budgets and whether each notification reaches an accepted topic."""
    from ..aws.budgets import check  # noqa: PLC0415
    from ..service.aws import aws_clients  # noqa: PLC0415
    from ..verification import VerificationPolicy  # noqa: PLC0415

    config = load(config_path)
    clients = aws_clients(config)
    receivers = [(e.path, VerificationPolicy(allowed_topic_arns=e.topics)) for e in config.endpoints] + [
        (q.endpoint, VerificationPolicy(allowed_topic_arns=q.topics)) for q in config.queues
    ]

    def accepted_by(topic: str) -> list[str]:
        return [name for name, policy in receivers if policy.topic_allowed(topic)]

    rows = check(clients.budgets(), account_id=_account(clients, account), accepted_by=accepted_by)
    if as_json:
        report = [
            {
                "budget": r.budget,
                "notification": r.notification,
                "topics": r.topics,
                "accepted_by": r.accepted_by,
            }
            for r in rows
        ]
        click.echo(json.dumps({"ok": all(r.ok for r in rows), "notifications": report}, indent=2))
    else:
        for row in rows:
            where = (
                ", ".join(row.accepted_by)
                if row.ok
                else "NOT RECEIVED (no endpoint or queue accepts its topic)"
            )
            click.echo(
                f"{row.budget}  {row.notification}  {', '.join(row.topics) or '(no SNS topic)'}  {where}"
            )
    if not all(r.ok for r in rows):
        raise SystemExit(1)
