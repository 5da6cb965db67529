"""The service's front door: SNS paths straight to their endpoint, everything else to Starlette.

The SNS endpoints (:class:`~sns_subscriber.integrations.asgi.SNSEndpoint`) are the one path
that runs for every message; Starlette's router in front of them would cost more per request
than parsing and storing the message together. Everything else (health, readiness, metrics,
unknown paths) goes through the Starlette application, which also routes the SNS paths to the
same endpoint objects: they are what its trailing-slash redirect points at, and they serve a
request whose path this front does not match exactly (a server started with a root path).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..integrations.asgi import Receive, Scope, Send, SNSEndpoint, framing_error, send_outcome

__all__ = ["SNSFront"]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SNSFront:
    """Serve ``endpoints`` (by exact path) directly; pass every other request to ``app``."""

    def __init__(self, endpoints: dict[str, SNSEndpoint], app: ASGIApp) -> None:
        self.endpoints = endpoints
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = self.endpoints.get(scope["path"])
        if endpoint is not None:
            await endpoint(scope, receive, send)
            return
        # The SNS endpoints check framing themselves; every other path is checked here.
        refused = framing_error(scope)
        if refused is not None:
            await send_outcome(send, refused)
            return
        await self.app(scope, receive, send)
