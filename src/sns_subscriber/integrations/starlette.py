"""Starlette adapter (extra ``starlette``): routes over :class:`AsyncSubscriber`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

try:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    from ..exceptions import MissingExtraError

    raise MissingExtraError("The Starlette integration", "starlette", "starlette") from exc

from ..exceptions import MessageTooLargeError, SNSSubscriberError
from ..inbound import InboundRequest
from ..outcome import Outcome, outcome_for_error
from ..subscriber import AsyncSubscriber

__all__ = ["read_body", "sns_endpoint", "sns_route", "sns_routes", "to_inbound", "to_response"]

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) before reading more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MessageTooLargeError(f"body is {declared} bytes, over the {limit}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MessageTooLargeError(f"body is over the {limit}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


async def to_inbound(request: Request, limit: int) -> InboundRequest:
    body = await read_body(request, limit)
    client = request.client.host if request.client else None
    return InboundRequest.build(request.method, request.url.path, request.headers.items(), body, client)


def to_response(outcome: Outcome) -> Response:
    return Response(outcome.body, status_code=outcome.status, headers=dict(outcome.headers))


async def handle(subscriber: AsyncSubscriber, request: Request) -> Outcome:
    try:
        inbound = await to_inbound(request, subscriber.max_body_bytes)
    except SNSSubscriberError as exc:
        return outcome_for_error(exc)
    return await subscriber.handle(inbound)


def sns_endpoint(subscriber: AsyncSubscriber) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint function (``async def view(request)``) for ``subscriber``."""

    async def endpoint(request: Request) -> Response:
        return to_response(await handle(subscriber, request))

    return endpoint


def sns_route(subscriber: AsyncSubscriber, path: str | None = None) -> Route:
    """A Route at ``path`` (default: the subscriber's endpoint); every method, non-POST is 405."""
    return Route(path or subscriber.endpoint, sns_endpoint(subscriber), methods=METHODS)


def sns_routes(subscribers: Iterable[AsyncSubscriber]) -> list[Route]:
    return [sns_route(s) for s in subscribers]
