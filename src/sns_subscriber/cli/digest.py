"""``digest`` commands: send budget digests (normally sent by the worker at digest_hour)."""

from __future__ import annotations

from pathlib import Path

import click

from ..service.runtime import build_runtime
from .common import config_option, load, one_line_errors


@click.group()
def digest() -> None:
    """Budget alert digests of owners with digest = "daily" or "weekly"."""


@digest.command("send")
@config_option
@click.option("--now", "everything", is_flag=True, help="Send every pending digest now, due or not.")
@one_line_errors
def send(config_path: Path, everything: bool) -> None:
    """Send the digests that are due (with --now: all pending ones)."""
    config = load(config_path)
    runtime = build_runtime(config)
    try:
        if runtime.digests is None:
            raise click.ClickException(
                "no [[budget_owners]] entry has digest set: there are no digests to send"
            )
        count = runtime.digests.send_due(everything=everything)
    finally:
        runtime.close()
    click.echo(f"sent {count} digest(s)")
