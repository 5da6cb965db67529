"""What a handler receives: one stored message, its producer event, and an exactly-once helper.

A handler may be retried (it raised, the worker crashed) or replayed. ``Delivery.once`` is how
it avoids repeating side effects that already succeeded: each named step is recorded in the
store's action ledger after it succeeds and skipped on every later attempt.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from .messages import (
        Notification,
        RawNotification,
        SubscriptionConfirmation,
        UnsubscribeConfirmation,
    )
    from .producers import ProducerEvent

__all__ = ["SKIPPED", "ActionLedger", "Delivery"]

T = TypeVar("T")
X = TypeVar("X")
if TYPE_CHECKING:
    # A bare ``Delivery`` means ``Delivery[ProducerEvent | None]`` (a TypeVar default: type
    # checkers read typing_extensions' stubs; at run time the default plays no part).
    from typing_extensions import TypeVar as DefaultTypeVar

    E_co = DefaultTypeVar("E_co", covariant=True, default=ProducerEvent | None)
else:
    E_co = TypeVar("E_co", covariant=True)


class _Skipped:
    def __repr__(self) -> str:
        return "SKIPPED"


#: What a handler returns when the message needed nothing from it (e.g. a budget alert that
#: no owner and no fallback recipient claims): metrics count it as "skipped", not "ok".
SKIPPED = _Skipped()


class ActionLedger(Protocol):
    """The part of an inbox store that remembers which steps of a message succeeded."""

    def action_succeeded(self, message_id: str, action_key: str) -> bool: ...

    def record_action(self, message_id: str, action_key: str) -> None: ...


class _MemoryLedger:
    """Ledger for handlers run inline (no store): remembers within one delivery only."""

    def __init__(self) -> None:
        self._done: set[tuple[str, str]] = set()

    def action_succeeded(self, message_id: str, action_key: str) -> bool:
        return (message_id, action_key) in self._done

    def record_action(self, message_id: str, action_key: str) -> None:
        self._done.add((message_id, action_key))


@dataclass(slots=True, kw_only=True)
class Delivery(Generic[E_co]):
    """One message handed to a handler.

    ``event`` is the typed producer payload (``BudgetAlert``, ``CloudWatchAlarm``, ...,
    ``UnknownPayload``; ``None`` for confirmations). A handler registered for one event type
    (``router.on(BudgetAlert)``) is typed ``Delivery[BudgetAlert]``, so ``delivery.event`` is a
    ``BudgetAlert`` for the type checker too; elsewhere :meth:`event_as` narrows it.
    ``attempt`` counts from 1.
    """

    message: Notification | RawNotification | SubscriptionConfirmation | UnsubscribeConfirmation
    event: E_co
    endpoint: str
    attempt: int = 1
    handler_name: str = ""
    ledger: ActionLedger = field(default_factory=_MemoryLedger, repr=False)
    #: True when this message ends a problem an earlier one reported (a CloudWatch alarm back
    #: to OK after ALARM): actions say "resolved" instead of repeating the alarm.
    resolution: bool = False

    @property
    def message_id(self) -> str:
        return self.message.message_id

    @property
    def topic_arn(self) -> str:
        return self.message.topic_arn

    def _key(self, key: str) -> str:
        return f"{self.handler_name}:{key}" if self.handler_name else key

    def event_as(self, kind: type[X]) -> X:
        """``event`` as a ``kind`` (e.g. ``BudgetAlert``); ``TypeError`` if it is something else."""
        if not isinstance(self.event, kind):
            raise TypeError(
                f"message {self.message_id} carries {type(self.event).__name__}, not {kind.__name__}"
            )
        return self.event

    def once(self, key: str, step: Callable[[], T]) -> T | None:
        """Run ``step`` unless it already succeeded for this message; record its success.

        Returns the step's result, or ``None`` when it was skipped. If ``step`` raises, nothing
        is recorded and the exception propagates (the worker retries the message later).
        """
        full_key = self._key(key)
        if self.ledger.action_succeeded(self.message_id, full_key):
            return None
        result = step()
        self.ledger.record_action(self.message_id, full_key)
        return result

    @overload
    async def once_async(self, key: str, step: Callable[[], Awaitable[T]]) -> T | None: ...

    @overload
    async def once_async(self, key: str, step: Callable[[], T]) -> T | None: ...

    async def once_async(self, key: str, step: Callable[[], Any]) -> Any:
        """Async twin of :meth:`once` for ``async`` handlers; ``step`` may return an awaitable."""
        full_key = self._key(key)
        if self.ledger.action_succeeded(self.message_id, full_key):
            return None
        result = step()
        value = await result if inspect.isawaitable(result) else result
        self.ledger.record_action(self.message_id, full_key)
        return value
