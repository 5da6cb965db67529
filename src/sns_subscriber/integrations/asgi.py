"""One ASGI endpoint for an :class:`AsyncSubscriber`: the service and the Starlette adapter
both serve SNS through it, so a request's body is read, capped and timed in one place.

Plain ASGI (no framework import): Starlette's router, middleware stack and Request object cost
more per request than parsing and storing the message together.

What it refuses before the pipeline sees anything:

- a request with both Content-Length and Transfer-Encoding (400, connection closed): two
  framings a proxy and this server could disagree on, the root of request smuggling
  (RFC 9112 section 6.3 says such a message must be treated as an error and the connection
  closed);
- a body over the subscriber's cap (413 as soon as the declared length or the bytes read pass
  it, never buffering more);
- a body not complete within ``body_timeout`` seconds (408, connection closed): a client that
  sends half a body and stalls holds a connection and a task; SNS sends its whole body at once.

And while it handles the message: past ``handle_timeout`` seconds (the store is slow, its
queue is long) it answers 503 with Retry-After rather than outlast SNS's 15-second wait; the
cancelled insert is dropped from the commit queue if it was not yet being written, and a row
already written is answered "duplicate" when SNS delivers again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..exceptions import (
    MalformedMessageError,
    MessageTooLargeError,
    SNSSubscriberError,
    StoreUnavailableError,
)
from ..inbound import InboundRequest
from ..outcome import Outcome, outcome_for_error
from ..subscriber import AsyncSubscriber

__all__ = ["SNSEndpoint", "framing_error", "read_request", "send_outcome"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: Called once per answered request: (endpoint path, outcome, seconds spent).
Observer = Callable[[str, Outcome, float], None]


class ClientGoneError(Exception):
    """The client disconnected before sending the whole body: there is nobody to answer."""


def _closing(outcome: Outcome) -> Outcome:
    """The same answer, asking the server to close the connection after it."""
    return dataclasses.replace(outcome, headers={**outcome.headers, "connection": "close"})


def framing_error(scope: Scope) -> Outcome | None:
    """400 (connection closed) for a request framed by both Content-Length and
    Transfer-Encoding; None for any other request."""
    names = {name for name, _ in scope.get("headers", ())}
    if b"transfer-encoding" in names and b"content-length" in names:
        error = MalformedMessageError("the request has both Content-Length and Transfer-Encoding")
        return _closing(outcome_for_error(error))
    return None


async def send_outcome(send: Send, outcome: Outcome) -> None:
    body = outcome.body
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in outcome.headers.items()]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SNSEndpoint:
    """An ASGI app answering SNS requests for ``subscriber`` (every method; non-POST is 405).

    ``body_timeout``: seconds to receive the whole body (408 after). ``handle_timeout``:
    seconds to verify and store it (503 with Retry-After after). ``observe`` sees every answer.
    None disables a limit (a framework adapter inside someone else's server may leave
    deadlines to that server).
    """

    def __init__(
        self,
        subscriber: AsyncSubscriber,
        *,
        body_timeout: float | None = None,
        handle_timeout: float | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.subscriber = subscriber
        self.body_timeout = body_timeout
        self.handle_timeout = handle_timeout
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        outcome = await self.answer(scope, receive)
        if outcome is None:
            return
        if self.observe is not None:
            self.observe(self.subscriber.endpoint, outcome, time.perf_counter() - start)
        await send_outcome(send, outcome)

    async def answer(self, scope: Scope, receive: Receive) -> Outcome | None:
        """The answer to this request; None when the client left before sending its body."""
        refused = framing_error(scope)
        if refused is not None:
            return refused
        try:
            request = await read_request(
                scope, receive, limit=self.subscriber.max_body_bytes, timeout=self.body_timeout
            )
        except ClientGoneError:
            return None
        except TimeoutError:
            return _closing(
                Outcome(408, "request_timeout", f"the body was not received within {self.body_timeout:g} s")
            )
        except SNSSubscriberError as exc:
            # The server discards the rest of an oversized body (within its header deadline);
            # closing now would make a client still sending it see a reset, not the 413.
            return outcome_for_error(exc)
        if self.handle_timeout is None:
            return await self.subscriber.handle(request)
        try:
            async with asyncio.timeout(self.handle_timeout):
                return await self.subscriber.handle(request)
        except TimeoutError:
            error = StoreUnavailableError(
                f"the message was not stored within {self.handle_timeout:g} s; retry later"
            )
            return outcome_for_error(error)


async def read_request(
    scope: Scope, receive: Receive, *, limit: int, timeout: float | None = None
) -> InboundRequest:
    """The request with its whole body, refusing (413) before reading more than ``limit``
    bytes; ``TimeoutError`` when the body takes longer than ``timeout`` seconds."""
    # ASGI header names are lower-case bytes already; values are latin-1 by the HTTP spec.
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        headers.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
    declared = headers.get("content-length", "")
    # ASCII digits only ("²".isdigit() is true), and no int() of thousands of digits (Python
    # refuses those with ValueError): anything longer than 18 digits is over any cap.
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise MessageTooLargeError(f"body is {declared[:20]} bytes, over the {limit}-byte cap")
    if timeout is None:
        body = await _read_body(receive, limit)
    else:
        async with asyncio.timeout(timeout):
            body = await _read_body(receive, limit)
    client = scope.get("client")
    return InboundRequest(scope["method"], scope["path"], headers, body, client[0] if client else None)


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGoneError
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
            raise ClientGoneError
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise MessageTooLargeError(f"body is over the {limit}-byte cap")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
