"""Django adapter (extra ``django``): a csrf-exempt view over :class:`Subscriber`.

One decorator, as with Flask: it registers the function as the handler of the endpoint's
messages and turns it into the SNS view to route::

    @sns_endpoint(subscriber, router, event=BudgetAlert)
    def email_owner(delivery: Delivery[BudgetAlert]) -> None:
        ...

    urlpatterns = [path("budget-subscriber", email_owner)]

or, with handlers registered elsewhere: ``path("budget-subscriber", sns_view(subscriber))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

try:
    from django.http import HttpRequest, HttpResponse
    from django.views.decorators.csrf import csrf_exempt
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    from ..exceptions import MissingExtraError

    raise MissingExtraError("The Django integration", "django", "django") from exc

from ..delivery import Delivery
from ..inbound import InboundRequest
from ..outcome import Outcome
from ..routing import Router
from ..subscriber import Subscriber

__all__ = ["sns_endpoint", "sns_view", "to_inbound", "to_response"]

F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E")
View = Callable[[HttpRequest], HttpResponse]


def to_inbound(request: HttpRequest, max_bytes: int) -> InboundRequest:
    return InboundRequest.build(
        request.method or "GET",
        request.path,
        request.headers.items(),
        _read_body(request, max_bytes),
        request.META.get("REMOTE_ADDR"),
    )


def _read_body(request: HttpRequest, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes (enough to tell "too large"), never the whole stream."""
    meta = request.META
    if meta.get("CONTENT_LENGTH") or not meta.get("wsgi.input_terminated"):
        return bytes(request.read(max_bytes + 1))
    # A chunked body under WSGI: Django only reads CONTENT_LENGTH bytes (none here), but the
    # server has de-chunked the stream and marks its end, so read it directly.
    stream = meta["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = stream.read(max_bytes + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def to_response(outcome: Outcome) -> HttpResponse:
    response = HttpResponse(outcome.body, status=outcome.status, content_type=outcome.headers["content-type"])
    for name, value in outcome.headers.items():
        if name != "content-type":
            response[name] = value
    return response


def sns_view(subscriber: Subscriber) -> Callable[[HttpRequest], HttpResponse]:
    """A view function; SNS cannot send a CSRF token, so the view is csrf-exempt (the SNS
    signature and the topic allow-list are what protect it)."""

    def view(request: HttpRequest) -> HttpResponse:
        return to_response(subscriber.handle(to_inbound(request, subscriber.max_body_bytes)))

    exempt: Callable[[HttpRequest], HttpResponse] = csrf_exempt(view)
    return exempt


@overload
def sns_endpoint(
    subscriber: Subscriber, router: Router, *, event: type[E], **route: Any
) -> Callable[[Callable[[Delivery[E]], Any]], View]: ...


@overload
def sns_endpoint(subscriber: Subscriber, router: Router, **route: Any) -> Callable[[F], View]: ...


def sns_endpoint(
    subscriber: Subscriber, router: Router, **route: Any
) -> Callable[[Callable[..., Any]], View]:
    """Register the decorated function as a handler of this endpoint's messages (``route``
    filters as in :meth:`Router.add`) and return the csrf-exempt SNS view."""

    def decorate(handler: Callable[..., Any]) -> View:
        router.add(handler, endpoint=subscriber.endpoint, **route)
        return sns_view(subscriber)

    return decorate
