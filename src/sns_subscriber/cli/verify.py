"""``sns-subscriber verify``: check saved SNS messages offline or online."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from ..exceptions import ConfigurationError, SNSSubscriberError
from ..messages import SNSMessage, parse_timestamp
from ..parsing import parse
from ..verification import InsecurePolicyWarning, VerificationPolicy, Verifier


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an ISO-8601 time", param_hint="--now") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    return parsed


@click.command()
@click.option(
    "--cert-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Pinned certificates (file name = URL basename). Disables downloads unless --fetch.",
)
@click.option("--fetch/--no-fetch", default=None, help="Allow downloading certificates over HTTPS.")
@click.option(
    "--topic",
    "topics",
    multiple=True,
    metavar="ARN",
    help="Accepted topic ARN (repeatable; * wildcards).",
)
@click.option("--any-topic", is_flag=True, help="Accept every topic (development only).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Check freshness and validity as of this time.")
@click.option("--at-message-time", is_flag=True, help="Check each message as of its own Timestamp.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def verify(
    cert_dir: Path | None,
    fetch: bool | None,
    topics: tuple[str, ...],
    any_topic: bool,
    now_text: str | None,
    at_message_time: bool,
    files: tuple[Path, ...],
) -> None:
    """Verify SNS messages saved as JSON FILES (HTTP bodies or Lambda records).

    Prints `OK <file> <Type> <MessageId>` or `REJECTED <file> <Error>: <reason>` per file.
    Exit status: 0 all verified, 1 any rejected, 2 usage error.
    """
    if not topics and not any_topic:
        raise click.UsageError("give the accepted topics with --topic ARN (or --any-topic)")
    if now_text is not None and at_message_time:
        raise click.UsageError("--now and --at-message-time exclude each other")
    fixed_now = _parse_now(now_text)
    current: list[datetime] = []
    clock: Callable[[], datetime] | None = None
    if fixed_now is not None:
        clock = lambda: fixed_now  # noqa: E731
    elif at_message_time:
        clock = lambda: current[-1]  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecurePolicyWarning)
        try:
            policy = VerificationPolicy(allowed_topic_arns=topics, allow_any_topic=any_topic)
            verifier = Verifier(
                policy,
                cert_dir=cert_dir,
                clock=clock,
                fetch=fetch if fetch is not None else cert_dir is None,
            )
        except ConfigurationError as exc:
            raise click.UsageError(str(exc)) from None
    if any_topic:
        click.echo("warning: --any-topic accepts messages from any AWS account's topic", err=True)
    rejected = 0
    for path in files:
        try:
            message: SNSMessage = parse(path.read_bytes())
            current.append(message.sent_at)
            verifier.verify(message)
        except SNSSubscriberError as exc:
            rejected += 1
            click.echo(f"REJECTED {path} {type(exc).__name__}: {exc}")
        except OSError as exc:
            rejected += 1
            click.echo(f"REJECTED {path} OSError: {exc.strerror or exc}")
        else:
            click.echo(f"OK {path} {message.type} {message.message_id}")
    raise SystemExit(1 if rejected else 0)
