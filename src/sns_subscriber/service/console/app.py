"""The console's ASGI application: server-rendered pages for browsers, a JSON API for scripts.

It reads through the store's console queries (keyset pages, bounded statistics) and writes
only through :mod:`sns_subscriber.service.operations`, the code the CLI runs. Pages work
without JavaScript; every value that came in a message is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ...stores.base import InboxStore
from .api import api_routes
from .core import HERE, Console, ConsoleSettings
from .pages import page_routes

__all__ = ["ConsoleSettings", "create_console_app"]

_STATIC_CACHE: Final = "public, max-age=3600"
_SECURITY_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _security_headers(app: Any) -> Any:
    """Add the security headers to every response; pages and API answers are never cached."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"server")
                ]
                headers += list(_SECURITY_HEADERS)
                headers.append((b"cache-control", _STATIC_CACHE.encode() if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def create_console_app(store: InboxStore, settings: ConsoleSettings) -> Any:
    """The console as an ASGI app over ``store``."""
    console = Console(store, settings)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not_found" if status == 404 else "http_error"}, status_code=status)
        return console.error_page(
            request, status, "Not found" if status == 404 else "Refused", "There is nothing here."
        )

    routes = [
        *page_routes(console),
        *api_routes(console),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return _security_headers(app)
