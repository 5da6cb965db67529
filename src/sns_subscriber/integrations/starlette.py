"""Starlette adapter (extra ``starlette``): routes over :class:`AsyncSubscriber`.

The route's endpoint is the same ASGI object the service uses
(:class:`~sns_subscriber.integrations.asgi.SNSEndpoint`): one body reader, one size check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

try:
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.routing import Route
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    from ..exceptions import MissingExtraError

    raise MissingExtraError("The Starlette integration", "starlette", "starlette") from exc

from ..inbound import InboundRequest
from ..outcome import Outcome
from ..subscriber import AsyncSubscriber
from .asgi import ClientGoneError, SNSEndpoint, read_request

__all__ = ["read_body", "sns_endpoint", "sns_route", "sns_routes", "to_inbound", "to_response"]

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def to_inbound(request: Request, limit: int) -> InboundRequest:
    """The request with its whole body, refusing (``MessageTooLargeError``) past ``limit`` bytes."""
    try:
        return await read_request(request.scope, request.receive, limit=limit)
    except ClientGoneError:
        raise ClientDisconnect from None


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (``MessageTooLargeError``) before reading more than ``limit`` bytes."""
    return (await to_inbound(request, limit)).body


def to_response(outcome: Outcome) -> Response:
    return Response(outcome.body, status_code=outcome.status, headers=dict(outcome.headers))


def sns_endpoint(subscriber: AsyncSubscriber) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint function (``async def view(request)``) for ``subscriber``, for frameworks
    that route to functions (FastAPI); :func:`sns_route` serves the ASGI endpoint directly."""
    endpoint = SNSEndpoint(subscriber)

    async def view(request: Request) -> Response:
        outcome = await endpoint.answer(request.scope, request.receive)
        if outcome is None:  # the client left before sending its body: nobody reads this
            return Response(status_code=400)
        return to_response(outcome)

    return view


def sns_route(subscriber: AsyncSubscriber, path: str | None = None) -> Route:
    """A Route at ``path`` (default: the subscriber's endpoint); every method, non-POST is 405."""
    return Route(path or subscriber.endpoint, SNSEndpoint(subscriber))


def sns_routes(subscribers: Iterable[AsyncSubscriber]) -> list[Route]:
    return [sns_route(s) for s in subscribers]
