"""Shared CLI plumbing: the --config option and one-line errors."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..exceptions import ConfigurationError, SNSSubscriberError
from ..service.config import Config, load_config

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "sns-subscriber.toml"


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=lambda: os.environ.get("SNS_SUBSCRIBER_CONFIG", DEFAULT_CONFIG),
        show_default=f"$SNS_SUBSCRIBER_CONFIG or {DEFAULT_CONFIG}",
        help="Configuration file (TOML).",
    )(func)


class ConfigProblem(click.ClickException):
    """A configuration error: one line, exit status 2."""

    exit_code = 2

    def format_message(self) -> str:
        return f"configuration error: {self.message}"


def load(config_path: Path) -> Config:
    try:
        config = load_config(config_path)
    except ConfigurationError as exc:
        raise ConfigProblem(str(exc.reason)) from None
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    return config


def one_line_errors(func: F) -> F:
    """Turn our errors into one-line messages instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigurationError as exc:
            raise ConfigProblem(exc.reason) from None
        except SNSSubscriberError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None

    return wrapper  # type: ignore[return-value]
