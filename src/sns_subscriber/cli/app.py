"""The click command group. Commands load on first use, so `verify` starts fast and needs
nothing from the service stack. Every command reports errors as one line, non-zero exit."""

from __future__ import annotations

import importlib
from typing import Any

import click

_COMMANDS = {
    "serve": "service:serve",
    "worker": "service:worker",
    "verify": "verify:verify",
    "inbox": "inbox:inbox",
    "subscriptions": "aws:subscriptions",  # inbox's group plus apply/check
    "doctor": "doctor:doctor",
    "simulate": "simulate:simulate",
    "config-reference": "service:config_reference",
    "digest": "digest:digest",
    "poll": "aws:poll",
    "dlq": "aws:dlq",
    "budgets": "aws:budgets",
    "console": "console:console",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: Any = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        return command  # type: ignore[no-any-return]


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="sns-subscriber")
def cli() -> None:
    """Receive Amazon SNS messages over HTTP(S) safely."""
