"""FastAPI adapter (extra ``fastapi``), over :class:`AsyncSubscriber`.

One decorator, as with Flask: it registers the function as the handler of the endpoint's
messages and gives FastAPI the SNS view to route::

    @app.post("/budget-subscriber", include_in_schema=False)
    @sns_endpoint(subscriber, router, event=BudgetAlert)
    async def email_owner(delivery: Delivery[BudgetAlert]) -> None:
        ...

or every subscriber at once: ``app.include_router(sns_api_router([subscriber]))``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, overload

try:
    from fastapi import APIRouter
    from starlette.requests import Request
    from starlette.responses import Response
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    from ..exceptions import MissingExtraError

    raise MissingExtraError("The FastAPI integration", "fastapi", "fastapi") from exc

from ..delivery import Delivery
from ..routing import Router
from ..subscriber import AsyncSubscriber
from .starlette import METHODS
from .starlette import sns_endpoint as sns_view

__all__ = ["sns_api_router", "sns_endpoint"]

F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E")
View = Callable[[Request], Awaitable[Response]]


@overload
def sns_endpoint(
    subscriber: AsyncSubscriber, router: Router, *, event: type[E], **route: Any
) -> Callable[[Callable[[Delivery[E]], Any]], View]: ...


@overload
def sns_endpoint(subscriber: AsyncSubscriber, router: Router, **route: Any) -> Callable[[F], View]: ...


def sns_endpoint(
    subscriber: AsyncSubscriber, router: Router, **route: Any
) -> Callable[[Callable[..., Any]], View]:
    """Register the decorated function (sync or ``async``) as a handler of this endpoint's
    messages (``route`` filters as in :meth:`Router.add`) and return the SNS view."""

    def decorate(handler: Callable[..., Any]) -> View:
        router.add(handler, endpoint=subscriber.endpoint, **route)
        answer = sns_view(subscriber)

        async def view(request: Request) -> Response:
            return await answer(request)

        # FastAPI names the operation after the view function.
        view.__name__ = getattr(handler, "__name__", route.get("name") or type(handler).__name__)
        view.__doc__ = handler.__doc__
        return view

    return decorate


def sns_api_router(subscribers: Iterable[AsyncSubscriber], **router_options: object) -> APIRouter:
    """An APIRouter with one route per subscriber (kept out of the OpenAPI schema)."""
    router = APIRouter(**router_options)  # type: ignore[arg-type]
    for subscriber in subscribers:
        router.add_api_route(
            subscriber.endpoint,
            sns_view(subscriber),
            methods=[m for m in METHODS if m != "HEAD"],
            include_in_schema=False,
        )
    return router
