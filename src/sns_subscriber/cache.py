"""A thread-safe certificate cache that knows nothing about X.509.

- bounded LRU; an entry lives until the loader's ``expires_at`` (the certificate's
  notAfter) and never longer than ``max_ttl``;
- single flight: concurrent misses of one URL share one load;
- failures are cached briefly (temporary) or longer (permanent), so a bad URL cannot make
  us hammer a host, and a temporary outage is retried soon;
- rationing: at most ``new_urls_per_minute`` loads of never-seen URLs per rolling minute,
  so distinct valid-looking URLs cannot turn us into a fetch amplifier (reference §2.9.4).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from .exceptions import CertificateFetchError, SNSSubscriberError, TemporaryFailureError

__all__ = ["CacheStats", "CertificateCache", "Loaded"]

T = TypeVar("T")

_PERMANENT_NEGATIVE_TTL = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """What a loader returns: the value and when it stops being usable."""

    value: T
    expires_at: datetime


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    loads: int = 0
    failures: int = 0
    rationed: int = 0


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T | None
    error: SNSSubscriberError | None
    valid_until: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CertificateCache(Generic[T]):
    def __init__(
        self,
        loader: Callable[[str], Loaded[T]],
        *,
        max_entries: int = 64,
        max_ttl: timedelta = timedelta(hours=24),
        negative_ttl: timedelta = timedelta(seconds=30),
        new_urls_per_minute: int = 10,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.loader = loader
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self.negative_ttl = negative_ttl
        self.new_urls_per_minute = new_urls_per_minute
        self.clock = clock or _utcnow
        self.stats = CacheStats()
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._inflight: dict[str, Future[T]] = {}
        self._known: set[str] = set()  # URLs that loaded successfully once (bounded below)
        self._new_loads: deque[datetime] = deque()
        self._lock = threading.Lock()

    def get(self, url: str) -> T:
        future, owner = self._lookup(url)
        if owner:
            self._load(url, future)
        return future.result()

    async def aget(self, url: str) -> T:
        future, owner = self._lookup(url)
        if owner:
            await asyncio.to_thread(self._load, url, future)
        return await asyncio.wrap_future(future)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _lookup(self, url: str) -> tuple[Future[T], bool]:
        """A future for ``url``'s value, and whether the caller must run the load."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None and now < entry.valid_until:
                self._entries.move_to_end(url)
                done: Future[T] = Future()
                if entry.error is not None:
                    done.set_exception(_cached_error(entry.error))
                else:
                    self.stats.hits += 1
                    done.set_result(entry.value)  # type: ignore[arg-type]
                return done, False
            self.stats.misses += 1
            pending = self._inflight.get(url)
            if pending is not None:
                return pending, False
            if url not in self._known and not self._ration(now):
                self.stats.rationed += 1
                refused: Future[T] = Future()
                refused.set_exception(
                    CertificateFetchError(
                        "too many new certificate URLs in the last minute; try later", value=url
                    )
                )
                return refused, False
            future: Future[T] = Future()
            self._inflight[url] = future
            return future, True

    def _ration(self, now: datetime) -> bool:
        window_start = now - timedelta(minutes=1)
        while self._new_loads and self._new_loads[0] <= window_start:
            self._new_loads.popleft()
        if len(self._new_loads) >= self.new_urls_per_minute:
            return False
        self._new_loads.append(now)
        return True

    def _load(self, url: str, future: Future[T]) -> None:
        self.stats.loads += 1
        try:
            loaded = self.loader(url)
        except SNSSubscriberError as exc:
            self.stats.failures += 1
            ttl = (
                self.negative_ttl
                if isinstance(exc, TemporaryFailureError)
                else max(self.negative_ttl, _PERMANENT_NEGATIVE_TTL)
            )
            self._store(url, _Entry(None, exc, self.clock() + ttl), known=False)
            future.set_exception(exc)
        except BaseException as exc:  # not cached: a bug should not be remembered as an answer
            with self._lock:
                self._inflight.pop(url, None)
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            now = self.clock()
            valid_until = min(loaded.expires_at, now + self.max_ttl)
            self._store(url, _Entry(loaded.value, None, valid_until), known=True)
            future.set_result(loaded.value)

    def _store(self, url: str, entry: _Entry[T], *, known: bool) -> None:
        with self._lock:
            self._inflight.pop(url, None)
            self._entries[url] = entry
            self._entries.move_to_end(url)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            if known:
                if len(self._known) >= 16 * self.max_entries:
                    self._known.clear()
                self._known.add(url)


def _cached_error(error: SNSSubscriberError) -> SNSSubscriberError:
    """A fresh exception for a remembered failure (raising one instance twice mixes tracebacks)."""
    if isinstance(error, TemporaryFailureError):
        return CertificateFetchError(f"{error.reason} (remembered; retried shortly)", value=error.value)
    clone = type(error).__new__(type(error))
    SNSSubscriberError.__init__(clone, error.reason, value=error.value)
    return clone
