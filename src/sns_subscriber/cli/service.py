"""``serve``, ``worker``, ``doctor`` and ``config-reference``."""

from __future__ import annotations

import gc
import signal
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import click

from ..exceptions import MissingExtraError, SNSSubscriberError
from ..service.config import reference_markdown
from ..service.runtime import build_runtime
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
    app = create_app(runtime, run_worker=not no_worker and config.get("service.worker"))
    # What exists now (modules, configuration, caches) lives as long as the process: keep the
    # collector from rescanning it, a pause every request in flight would wait for.
    gc.collect()
    gc.freeze()
    # uvicorn handles SIGTERM/SIGINT itself (graceful shutdown), then re-raises the signal to
    # the handler that was installed before it; a no-op there makes a graceful stop exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_graceful_shutdown)
    options: dict[str, Any] = {
        "host": host or config.get("service.host"),
        "port": port or config.get("service.port"),
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
        "server_header": False,
    }
    if console_app is None:
        uvicorn.run(app, **options)
    else:
        from ..service.console.server import serve_with_console  # noqa: PLC0415

        serve_with_console(uvicorn.Config(app, **options), console_app, config)


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
    job = runtime.worker()
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
    try:
        job.run(stop)
    finally:
        runtime.close()


@click.command()
@config_option
@click.option("--offline", is_flag=True, help="Skip the network check of the SNS certificate host.")
@one_line_errors
def doctor(config_path: Path, offline: bool) -> None:
    """Check the configuration, the store and the certificate host; list endpoints."""
    from ..fetch import https_get  # noqa: PLC0415

    config = load(config_path)
    click.echo(f"config: {config.source} OK")
    runtime = build_runtime(config)
    problems = 0
    try:
        runtime.store.ping()
        counts = runtime.store.counts()
        click.echo(f"store: {config.get('store.url')} OK ({sum(counts.values())} message(s))")
    except SNSSubscriberError as exc:
        problems += 1
        click.echo(f"store: {config.get('store.url')} UNAVAILABLE: {exc.reason}")
    for endpoint in config.endpoints:
        click.echo(
            f"endpoint {endpoint.path}: confirm={endpoint.confirm} actions={','.join(endpoint.actions) or '-'}"
        )
        for topic in endpoint.topics:
            click.echo(f"  topic {topic}")
    cert_dir = config.path("verification.cert_dir")
    if cert_dir is not None:
        pems = sorted(p.name for p in cert_dir.glob("SimpleNotificationService-*.pem"))
        click.echo(f"pinned certificates: {cert_dir} ({len(pems)} file(s))")
    if not offline and config.get("verification.fetch"):
        url = "https://sns.us-east-1.amazonaws.com/"
        try:
            response = https_get(url, timeout=5.0)
            click.echo(f"certificate host: {url} reachable (HTTP {response.status})")
        except SNSSubscriberError as exc:
            problems += 1
            click.echo(
                f"certificate host: {url} NOT reachable: {exc.reason} (pin certificates with verification.cert_dir)"
            )
    runtime.close()
    if problems:
        raise SystemExit(1)


@click.command("config-reference")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def config_reference(output: Path | None) -> None:
    """Print the configuration reference (Markdown) generated from the settings table."""
    text = reference_markdown()
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
