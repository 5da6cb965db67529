"""Flask adapter (extra ``flask``).

One line replaces the usual three decorators (check the signature, confirm the subscription,
acknowledge the Budgets test message)::

    @app.post("/budget-subscriber")
    @sns_endpoint(subscriber, router, event=BudgetAlert)
    def email_owner(delivery: Delivery[BudgetAlert]) -> None:
        ...

The route answers SNS through the full pipeline; ``email_owner`` runs for each stored
message in the worker (or inline when the subscriber has ``worker=``), never twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

try:
    from flask import Blueprint, Response, request
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    from ..exceptions import MissingExtraError

    raise MissingExtraError("The Flask integration", "flask", "flask") from exc

from ..delivery import Delivery
from ..inbound import InboundRequest
from ..outcome import Outcome
from ..routing import Router
from ..subscriber import Subscriber

__all__ = ["sns_blueprint", "sns_endpoint", "sns_view", "to_inbound", "to_response"]

F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E")


def to_inbound(max_bytes: int) -> InboundRequest:
    """The current Flask request; reads at most ``max_bytes + 1`` body bytes."""
    body = request.stream.read(max_bytes + 1)
    return InboundRequest.build(
        request.method, request.path, request.headers.items(), body, request.remote_addr
    )


def to_response(outcome: Outcome) -> Response:
    return Response(outcome.body, status=outcome.status, headers=dict(outcome.headers))


def sns_view(subscriber: Subscriber) -> Callable[[], Response]:
    """A Flask view function running ``subscriber`` on the current request."""

    def view() -> Response:
        return to_response(subscriber.handle(to_inbound(subscriber.max_body_bytes)))

    return view


@overload
def sns_endpoint(
    subscriber: Subscriber, router: Router, *, event: type[E], **route: Any
) -> Callable[[Callable[[Delivery[E]], Any]], Callable[[], Response]]: ...


@overload
def sns_endpoint(
    subscriber: Subscriber, router: Router, **route: Any
) -> Callable[[F], Callable[[], Response]]: ...


def sns_endpoint(
    subscriber: Subscriber, router: Router, **route: Any
) -> Callable[[Callable[..., Any]], Callable[[], Response]]:
    """Register the decorated function as a handler of this endpoint's messages (``route``
    filters as in :meth:`Router.add`: ``event=``, ``topic=``, ``subject=``, ``name=``) and
    return the SNS view for Flask to route."""

    def decorate(handler: Callable[..., Any]) -> Callable[[], Response]:
        router.add(handler, endpoint=subscriber.endpoint, **route)
        view = sns_view(subscriber)
        # Flask names endpoints after the view function; callable objects have no __name__.
        view.__name__ = getattr(handler, "__name__", route.get("name") or type(handler).__name__)
        view.__doc__ = handler.__doc__
        return view

    return decorate


def sns_blueprint(subscriber: Subscriber, *, name: str = "sns", url_prefix: str | None = None) -> Blueprint:
    """A blueprint serving ``subscriber`` at its endpoint path (every method; non-POST is 405)."""
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    blueprint.add_url_rule(
        subscriber.endpoint, endpoint="sns", view_func=sns_view(subscriber), methods=methods
    )
    return blueprint
