"""Running the console: from the configuration, next to the SNS listener or alone.

``serve`` runs two uvicorn servers on one event loop: the SNS endpoints on ``service.port``
and the console on ``console.port``. Only the SNS server handles SIGTERM/SIGINT (a graceful
shutdown); the console stops when it does. The SNS port never routes to the console.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn

from ...exceptions import ConfigurationError
from ..aws import configured_confirmer, localstack_hosts
from .app import ConsoleSettings, create_console_app
from .auth import MIN_TOKEN_LENGTH

if TYPE_CHECKING:
    from ...stores import InboxStore
    from ..config import Config

__all__ = ["console_from_config", "console_token", "serve_with_console"]


def console_token(config: Config) -> str:
    """The admin token from the variable ``console.token_env`` names; refuse to go on without one."""
    name = config.get("console.token_env")
    token = config.secret(name)
    if not token:
        raise ConfigurationError(
            f"{config.source}: the console is enabled but the environment variable {name} "
            "(console.token_env) holding its admin token is empty or unset",
            value=name,
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigurationError(
            f"{config.source}: the console token in {name} is shorter than {MIN_TOKEN_LENGTH} characters; "
            "use a random one, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            value=name,
        )
    return token


def console_from_config(config: Config, store: InboxStore) -> Any:
    """The console ASGI app for ``config``, reading and writing ``store``."""
    settings = ConsoleSettings(
        token=console_token(config),
        session_hours=config.get("console.session_hours"),
        confirm_modes={endpoint.path: endpoint.confirm for endpoint in config.endpoints},
        confirmer=lambda mode: configured_confirmer(config, mode, localstack_hosts(config)),
    )
    return create_console_app(store, settings)


def console_config(app: Any, config: Config) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.get("console.host"),
        port=config.get("console.port"),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=10,
    )


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the SNS server it runs next to."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _both(main: uvicorn.Server, console: uvicorn.Server) -> None:
    console_task = asyncio.create_task(console.serve())
    # Bind the console first: if its port is taken, stop before taking any SNS traffic.
    while not console.started:
        if console_task.done():
            console_task.result()
            raise SystemExit(1)  # uvicorn logged why it did not start
        await asyncio.sleep(0.01)
    try:
        await main.serve()
    finally:
        console.should_exit = True
        await console_task


def serve_with_console(main_config: uvicorn.Config, console_app: Any, config: Config) -> uvicorn.Server:
    """Run the SNS server of ``main_config`` and the console together until SIGTERM/SIGINT;
    return the SNS server (``started`` says whether it ever listened)."""
    main = uvicorn.Server(main_config)
    console = _QuietServer(console_config(console_app, config))
    asyncio.run(_both(main, console))
    return main
