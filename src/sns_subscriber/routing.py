"""Which handlers run for a stored message.

A handler is any callable taking a :class:`~sns_subscriber.delivery.Delivery`, sync or
``async``. Register it for a message type, a topic ARN pattern, a subject pattern, a producer
model (``BudgetAlert``, ``CloudWatchAlarm``, ...) and/or an endpoint path; every matching
handler runs, in registration order.

    router = Router()

    @router.on(event=BudgetAlert)
    def email_owner(delivery): ...
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from .delivery import Delivery
from .exceptions import ConfigurationError

__all__ = ["Handler", "Route", "Router", "is_async_handler"]

Handler: TypeAlias = Callable[[Delivery], Any] | Callable[[Delivery], Awaitable[Any]]
H = TypeVar("H", bound=Callable[..., Any])

_TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})


def is_async_handler(handler: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    while hasattr(handler, "func"):  # functools.partial
        handler = handler.func
    if inspect.iscoroutinefunction(handler):
        return True
    # A callable object (a class instance with an async __call__)
    return not inspect.isfunction(handler) and inspect.iscoroutinefunction(type(handler).__call__)


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

    @property
    def is_async(self) -> bool:
        return is_async_handler(self.handler)

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

    def add(
        self,
        handler: Handler,
        *,
        message_type: str | tuple[str, ...] = "Notification",
        topic: str | None = None,
        subject: str | None = None,
        event: type | tuple[type, ...] | None = None,
        endpoint: str | None = None,
        name: str | None = None,
    ) -> Route:
        types = frozenset((message_type,) if isinstance(message_type, str) else message_type)
        if not types or not types <= _TYPES:
            raise ConfigurationError(f"handler type must be among {sorted(_TYPES)}", value=str(sorted(types)))
        route_name = name or getattr(handler, "__qualname__", None) or type_name(handler)
        if any(r.name == route_name for r in self.routes):
            # The name keys the exactly-once ledger: two handlers sharing it would skip each other.
            raise ConfigurationError("two handlers share one name; pass name=", value=route_name)
        events: tuple[type, ...] | None = (event,) if isinstance(event, type) else event
        route = Route(handler, route_name, types, _glob(topic), _glob(subject), events, endpoint)
        self.routes.append(route)
        return route

    def on(
        self,
        *,
        message_type: str | tuple[str, ...] = "Notification",
        topic: str | None = None,
        subject: str | None = None,
        event: type | tuple[type, ...] | None = None,
        endpoint: str | None = None,
        name: str | None = None,
    ) -> Callable[[H], H]:
        """Decorator form of :meth:`add`."""

        def register(handler: H) -> H:
            self.add(
                handler,
                message_type=message_type,
                topic=topic,
                subject=subject,
                event=event,
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
