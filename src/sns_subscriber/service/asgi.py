"""The service's SNS endpoints as plain ASGI: the one path that runs for every message.

Starlette's router, middleware stack and Request object cost more per request than parsing
and storing the message together; on a busy endpoint that is most of the CPU left after the
RSA check. Everything else (health, readiness, metrics, unknown paths) still goes through the
Starlette application. It keeps routes for the SNS paths as well: they are what Starlette's
trailing-slash redirect points at, and they serve a request whose path this front does not
match exactly (a server started with a root path).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..exceptions import MessageTooLargeError, SNSSubscriberError
from ..inbound import InboundRequest
from ..outcome import Outcome, outcome_for_error
from ..subscriber import AsyncSubscriber
from .metrics import Metrics

__all__ = ["SNSFront"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _ClientGoneError(Exception):
    """The client disconnected before sending the whole body: there is nobody to answer."""


class SNSFront:
    """Serve ``subscribers`` (by exact path) directly; pass every other request to ``app``."""

    def __init__(self, subscribers: dict[str, AsyncSubscriber], metrics: Metrics, app: ASGIApp) -> None:
        self.subscribers = subscribers
        self.metrics = metrics
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscriber = self.subscribers.get(scope["path"]) if scope["type"] == "http" else None
        if subscriber is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            outcome = await self._handle(subscriber, scope, receive)
        except _ClientGoneError:
            return
        self.metrics.observe(subscriber.endpoint, outcome, time.perf_counter() - start)
        body = outcome.body
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in outcome.headers.items()
        ]
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, subscriber: AsyncSubscriber, scope: Scope, receive: Receive) -> Outcome:
        # ASGI header names are lower-case bytes already; values are latin-1 by the HTTP spec.
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
        try:
            body = await _read_body(receive, headers.get("content-length"), subscriber.max_body_bytes)
        except SNSSubscriberError as exc:
            return outcome_for_error(exc)
        client = scope.get("client")
        request = InboundRequest(scope["method"], scope["path"], headers, body, client[0] if client else None)
        return await subscriber.handle(request)


async def _read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The whole body, refusing (413) before reading more than ``limit`` bytes."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MessageTooLargeError(f"body is {declared} bytes, over the {limit}-byte cap")
    message = await receive()
    if message["type"] != "http.request":
        raise _ClientGoneError
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise MessageTooLargeError(f"body is over the {limit}-byte cap")
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGoneError
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise MessageTooLargeError(f"body is over the {limit}-byte cap")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
