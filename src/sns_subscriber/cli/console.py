"""``sns-subscriber console``: the operator console alone, against the configured store."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from ..exceptions import MissingExtraError
from ..service.runtime import open_configured_store
from .common import config_option, load, one_line_errors


@click.command()
@config_option
@click.option("--host", help="Bind address (default: console.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: console.port).")
@one_line_errors
def console(config_path: Path, host: str | None, port: int | None) -> None:
    """Serve the operator console alone (e.g. one console for many receivers on PostgreSQL).

    The admin token comes from the environment variable named by console.token_env.
    """
    try:
        import uvicorn  # noqa: PLC0415

        from ..service.console import console_from_config, console_token  # noqa: PLC0415
        from ..service.logs import configure_logging  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        raise MissingExtraError("sns-subscriber console", "service", exc.name or "uvicorn") from None
    config = load(config_path)
    configure_logging(config.get("service.log_format"), config.get("service.log_level"))
    console_token(config)
    store = open_configured_store(config)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # installed before it: a no-op there makes a graceful stop exit 0, as `serve` does.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_graceful_shutdown)
    try:
        app = console_from_config(config, store)
        uvicorn.run(
            app,
            host=host or config.get("console.host"),
            port=port or config.get("console.port"),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
        )
    finally:
        store.close()


def _after_graceful_shutdown(_signum: int, _frame: FrameType | None) -> None:
    """The signal was already acted upon by uvicorn's graceful shutdown."""
