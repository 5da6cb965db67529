"""Pace outgoing requests to one destination, and say "retry later" without it being a failure.

Chat services limit how fast one webhook may post (Slack incoming webhooks: about one message
a second) and answer ``429 Too Many Requests`` with ``Retry-After`` when pushed. A
:class:`Pacer` spaces the requests of one destination and, after a 429, holds every request
to it until the ``Retry-After`` has passed. A handler that cannot wait that long raises
:class:`RetryLater`: the worker puts the message back for that delay without counting the
attempt, so a rate limit never turns a message dead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Final

from .exceptions import ConfigurationError, TemporaryFailureError

__all__ = ["Pacer", "RetryLater", "parse_retry_after"]

# A Retry-After beyond this is not believed (a typo or a hostile server must not park a
# message for a year); the worker's usual backoff takes over.
MAX_RETRY_AFTER: Final = 3600.0


class RetryLater(TemporaryFailureError):  # noqa: N818 - a request to come back, not an error
    """Not a failure: the destination asked us to come back in ``delay`` seconds.

    The worker reschedules the message after ``delay`` and does not count the attempt.
    """

    code = "retry_later"

    def __init__(self, reason: str, *, delay: float, message_id: str | None = None) -> None:
        # Set before the base class seals the error (errors are immutable once built).
        self.delay = max(0.0, min(delay, MAX_RETRY_AFTER))
        super().__init__(reason, message_id=message_id)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None``
    when absent or unreadable. Capped at an hour."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, when - (time.time() if now is None else now)), MAX_RETRY_AFTER)


class Pacer:
    """At most ``rate`` requests a second to one destination, shared by every thread.

    :meth:`wait` blocks until the next request may go; :meth:`hold` pushes that moment out
    (after a 429). ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ConfigurationError("a rate limit must be above 0 requests per second", value=str(rate))
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        """Block until this caller's turn; turns are taken in call order."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)

    def hold(self, seconds: float) -> None:
        """No request before ``seconds`` from now (the destination said Retry-After)."""
        with self._lock:
            self._next = max(self._next, self._clock() + max(0.0, seconds))

    def free_in(self) -> float:
        """Seconds until the next request may go."""
        with self._lock:
            return max(0.0, self._next - self._clock())
