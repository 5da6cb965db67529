"""Which handlers run for a stored message.

A handler is any callable taking a :class:`~sns_subscriber.delivery.Delivery`, sync or
``async``. Register it for a message type, a topic ARN pattern, a subject pattern, a producer
model (``BudgetAlert``, ``CloudWatchAlarm``, ...) and/or an endpoint path; every matching
handler runs, in registration order.

    router = Router()

    @router.on(BudgetAlert)
    def email_owner(delivery: Delivery[BudgetAlert]) -> None:
        alert = delivery.event  # a BudgetAlert, for the type checker too
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, cast, overload

from .delivery import Delivery
from .exceptions import ConfigurationError

__all__ = ["Handler", "Route", "Router"]

Handler: TypeAlias = Callable[[Delivery], Any] | Callable[[Delivery], Awaitable[Any]]
H = TypeVar("H", bound=Callable[..., Any])
EV = TypeVar("EV")
R = TypeVar("R")

_TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})


def _glob(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(fnmatch.translate(pattern)) if pattern is not None else None


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    name: str
    types: frozenset[str]
    topic: re.Pattern[str] | None
    subject: re.Pattern[str] | None
    event: tuple[type, ...] | None
    endpoint: str | None

    def matches(
        self, message_type: str, topic_arn: str, subject: str | None, event: object, endpoint: str
    ) -> bool:
        return (
            message_type in self.types
            and (self.topic is None or self.topic.match(topic_arn) is not None)
            and (self.subject is None or (subject is not None and self.subject.match(subject) is not None))
            and (self.event is None or isinstance(event, self.event))
            and (self.endpoint is None or self.endpoint == endpoint)
        )


class Router:
    """Handler registry. Topic and subject patterns are shell globs (``*``, ``?``)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    @overload
    def add(
        self,
        handler: Callable[[Delivery[EV]], Any],
        *,
        event: type[EV],
        message_type: str | tuple[str, ...] = ...,
        topic: str | None = ...,
        subject: str | None = ...,
        endpoint: str | None = ...,
        name: str | None = ...,
    ) -> Route: ...

    @overload
    def add(
        self,
        handler: Handler,
        *,
        message_type: str | tuple[str, ...] = ...,
        topic: str | None = ...,
        subject: str | None = ...,
        event: type | tuple[type, ...] | None = ...,
        endpoint: str | None = ...,
        name: str | None = ...,
    ) -> Route: ...

    def add(
        self,
        handler: Callable[[Any], Any],
        *,
        message_type: str | tuple[str, ...] = "Notification",
        topic: str | None = None,
        subject: str | None = None,
        event: type | tuple[type, ...] | None = None,
        endpoint: str | None = None,
        name: str | None = None,
    ) -> Route:
        """Run ``handler`` for the stored messages that match every filter given.

        With ``event=BudgetAlert`` the handler may be typed ``Delivery[BudgetAlert]``.
        """
        types = frozenset((message_type,) if isinstance(message_type, str) else message_type)
        if not types or not types <= _TYPES:
            raise ConfigurationError(f"handler type must be among {sorted(_TYPES)}", value=str(sorted(types)))
        route_name = name or getattr(handler, "__qualname__", None) or type_name(handler)
        if any(r.name == route_name for r in self.routes):
            # The name keys the exactly-once ledger: two handlers sharing it would skip each other.
            raise ConfigurationError("two handlers share one name; pass name=", value=route_name)
        events: tuple[type, ...] | None = (event,) if isinstance(event, type) else event
        route = Route(
            cast("Handler", handler), route_name, types, _glob(topic), _glob(subject), events, endpoint
        )
        self.routes.append(route)
        return route

    @overload
    def on(
        self,
        event: type[EV],
        /,
        *,
        message_type: str | tuple[str, ...] = ...,
        topic: str | None = ...,
        subject: str | None = ...,
        endpoint: str | None = ...,
        name: str | None = ...,
    ) -> Callable[[Callable[[Delivery[EV]], R]], Callable[[Delivery[EV]], R]]: ...

    @overload
    def on(
        self,
        *,
        message_type: str | tuple[str, ...] = ...,
        topic: str | None = ...,
        subject: str | None = ...,
        event: type | tuple[type, ...] | None = ...,
        endpoint: str | None = ...,
        name: str | None = ...,
    ) -> Callable[[H], H]: ...

    def on(
        self,
        *event_type: type,
        message_type: str | tuple[str, ...] = "Notification",
        topic: str | None = None,
        subject: str | None = None,
        event: type | tuple[type, ...] | None = None,
        endpoint: str | None = None,
        name: str | None = None,
    ) -> Callable[[Any], Any]:
        """Decorator form of :meth:`add`. ``router.on(BudgetAlert)`` registers a handler of
        ``Delivery[BudgetAlert]`` (same as ``event=BudgetAlert``)."""
        # (``*event_type`` rather than one optional positional parameter: mypy cannot match
        # the latter against the keyword-only overload.)
        if len(event_type) > 1 or (event_type and event is not None):
            raise ConfigurationError("give one event type, once: router.on(BudgetAlert)", value="event")
        events = event_type[0] if event_type else event

        def register(handler: Any) -> Any:
            self.add(
                handler,
                message_type=message_type,
                topic=topic,
                subject=subject,
                event=events,
                endpoint=endpoint,
                name=name,
            )
            return handler

        return register

    def match(
        self, message_type: str, topic_arn: str, subject: str | None, event: object, endpoint: str
    ) -> list[Route]:
        return [r for r in self.routes if r.matches(message_type, topic_arn, subject, event, endpoint)]

    def __len__(self) -> int:
        return len(self.routes)


def type_name(obj: object) -> str:
    return type(obj).__qualname__
