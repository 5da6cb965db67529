"""``serve``, ``worker`` and ``config-reference`` (``doctor`` lives in :mod:`.doctor`)."""

from __future__ import annotations

import gc
import signal
import threading
import warnings
from pathlib import Path
from types import FrameType

import click

from ..exceptions import MissingExtraError
from ..service.alerting import start_alerting
from ..service.config import reference_markdown
from ..service.runtime import build_runtime
from ..service.startup import UnclaimedWatch, log_startup
from ..verification import InsecurePolicyWarning
from .common import config_option, load, one_line_errors


@click.command()
@config_option
@click.option("--host", help="Bind address (default: service.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: service.port).")
@click.option("--no-worker", is_flag=True, help="Do not process the inbox in this process.")
@one_line_errors
def serve(config_path: Path, host: str | None, port: int | None, no_worker: bool) -> None:
    """Serve the configured SNS endpoints, /healthz, /readyz and /metrics."""
    try:
        import uvicorn  # noqa: PLC0415

        from ..service.app import create_app  # noqa: PLC0415
        from ..service.logs import configure_logging  # noqa: PLC0415
        from ..service.server import uvicorn_config  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        raise MissingExtraError("sns-subscriber serve", "service", exc.name or "uvicorn") from None
    config = load(config_path)
    configure_logging(config.get("service.log_format"), config.get("service.log_level"))
    warnings.simplefilter("always", InsecurePolicyWarning)
    console_app = None
    if config.get("console.enabled"):
        from ..service.console import console_token  # noqa: PLC0415

        console_token(config)  # no token: refuse to start at all
    runtime = build_runtime(config)
    if config.get("console.enabled"):
        from ..service.console import console_from_config  # noqa: PLC0415

        console_app = console_from_config(config, runtime.store)
    run_worker = not no_worker and config.get("service.worker")
    app = create_app(runtime, run_worker=run_worker)
    log_startup(config, role="serve", worker=run_worker)
    watch = None if run_worker else UnclaimedWatch(runtime.store)
    start_alerting(runtime)  # stopped by runtime.close() when the app shuts down
    # What exists now (modules, configuration, caches) lives as long as the process: keep the
    # collector from rescanning it, a pause every request in flight would wait for.
    gc.collect()
    gc.freeze()
    # uvicorn handles SIGTERM/SIGINT itself (graceful shutdown), then re-raises the signal to
    # the handler that was installed before it; a no-op there makes a graceful stop exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_graceful_shutdown)
    if watch is not None:
        watch.start()
    try:
        main_config = uvicorn_config(app, config, host=host, port=port)
        if console_app is None:
            server = uvicorn.Server(main_config)
            server.run()
        else:
            from ..service.console.server import serve_with_console  # noqa: PLC0415

            server = serve_with_console(main_config, console_app, config)
    finally:
        if watch is not None:
            watch.stop()
    if not server.started:  # uvicorn logged why (address in use, lifespan failure)
        raise SystemExit(3)


def _after_graceful_shutdown(_signum: int, _frame: FrameType | None) -> None:
    """The signal was already acted upon by uvicorn's graceful shutdown."""


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Process what is due now, then exit.")
@one_line_errors
def worker(config_path: Path, once: bool) -> None:
    """Process the inbox (run any number of these next to `serve --no-worker`)."""
    from ..service.logs import configure_logging  # noqa: PLC0415

    config = load(config_path)
    configure_logging(config.get("service.log_format"), config.get("service.log_level"))
    runtime = build_runtime(config)
    log_startup(config, role="worker", worker=True)
    job = runtime.worker()
    if not once:
        start_alerting(runtime)  # stopped by runtime.close()
    if once:
        count = job.drain()
        runtime.close()
        click.echo(f"processed {count} message(s)")
        return
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # the current message finishes first

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if runtime.digests is not None:  # budget digests go out from worker processes
        threading.Thread(target=runtime.digests.run, args=(stop,), name="sns-digests", daemon=True).start()
    try:
        job.run(stop)
    finally:
        runtime.close()


@click.command("config-reference")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def config_reference(output: Path | None) -> None:
    """Print the configuration reference (Markdown) generated from the settings table."""
    text = reference_markdown()
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
