"""The AWS-side commands: ``poll``, ``subscriptions apply|check``, ``dlq drain``, ``budgets``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from .common import config_option, load, one_line_errors
from .inbox import subscriptions

__all__ = ["poll", "subscriptions"]


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
