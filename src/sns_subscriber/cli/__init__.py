"""The ``sns-subscriber`` command. Its commands live in :mod:`sns_subscriber.cli.app`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point; tells how to install click instead of failing with a traceback."""
    try:
        from .app import cli  # noqa: PLC0415 - click is an optional extra
    except ModuleNotFoundError as exc:
        if exc.name != "click":
            raise
        sys.stderr.write("sns-subscriber: the command line needs click: pip install 'sns-subscriber[cli]'\n")
        raise SystemExit(2) from None
    cli.main(args=argv, prog_name="sns-subscriber")
