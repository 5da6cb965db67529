"""A thread-safe certificate cache that knows nothing about X.509.

- bounded LRU; an entry is served until the loader's ``expires_at`` (the certificate's
  notAfter) and never longer than ``max_ttl`` after it was loaded;
- single flight: concurrent misses of one URL, from threads or from asyncio tasks, share one
  load; cancelling one waiting task never cancels the load the others wait for;
- failures are remembered: temporary ones (:class:`TemporaryFailureError`, such as
  :class:`CertificateFetchError`) for ``negative_ttl``, so an outage is retried soon but not
  hammered; permanent ones (any other :class:`SNSSubscriberError`, such as
  :class:`InvalidCertificateError`) for at least five minutes. Anything else is a bug and is
  not remembered;
- rationing: only *network* loads of never-seen URLs are rationed, at most
  ``new_urls_per_minute`` per rolling minute overall and ``new_urls_per_client_per_minute``
  per client (an IPv4 address, an IPv6 /64), so distinct valid-looking URLs cannot turn us into
  a fetch amplifier (``tests/test_attacks.py``). Rationing must never starve a real message, so
  it never applies to a URL the loader serves without the network (``needs_network`` says
  which: a pinned certificate), nor to a "known" URL: one that loaded successfully before, or
  that :meth:`CertificateCache.vouch` recorded after a signature verified with its
  certificate. Vouched URLs can be kept in a :class:`KnownURLFile`, so a restart, a new
  replica sharing the file, or a flood of junk right after a start does not ration them either.
  A junk sender spends its own per-client share first; only many senders at once can use up
  the overall share, and even then pinned and known certificates keep working.

Every structure is bounded: entries and failures by ``max_entries``, known URLs, clients and
vouched URLs by fixed caps; a stranger can only make old entries fall out, never grow memory.

Every timestamp comes from ``clock`` (timezone-aware UTC by default), so tests move time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import ipaddress
import logging
import os
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

from .exceptions import CertificateFetchError, ConfigurationError, SNSSubscriberError, TemporaryFailureError

__all__ = ["CacheStats", "CertificateCache", "KnownURLFile", "Loaded"]

logger = logging.getLogger("sns_subscriber")

T = TypeVar("T")
_E = TypeVar("_E", bound=SNSSubscriberError)

_PERMANENT_NEGATIVE_TTL = timedelta(minutes=5)
_RATION_WINDOW = timedelta(minutes=1)
#: Clients whose recent new-URL loads are remembered; the least recently seen fall out.
_MAX_CLIENTS: Final = 1024
#: Vouched URLs kept (in memory and in a KnownURLFile): AWS has a handful of signing certificates.
_MAX_VOUCHED: Final = 256


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """What a loader returns: the value and when it stops being usable (timezone-aware)."""

    value: T
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache's counters.

    ``hits`` answered from a cached value; ``negative_hits`` answered with a remembered
    failure; ``misses`` every other lookup (it started a load, joined one in flight, or was
    rationed); ``loads`` loader calls; ``failures`` loader calls that raised; ``rationed``
    lookups refused because too many new URLs were loaded in the last minute.
    """

    hits: int = 0
    misses: int = 0
    loads: int = 0
    failures: int = 0
    rationed: int = 0
    negative_hits: int = 0


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class _Failure:
    error: SNSSubscriberError
    until: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CertificateCache(Generic[T]):
    """Values by URL, produced by ``loader(url)`` (which raises :class:`SNSSubscriberError`
    subclasses for expected failures). See the module docstring for the rules."""

    def __init__(
        self,
        loader: Callable[[str], Loaded[T]],
        *,
        max_entries: int = 64,
        max_ttl: timedelta = timedelta(hours=24),
        negative_ttl: timedelta = timedelta(seconds=30),
        new_urls_per_minute: int = 20,
        new_urls_per_client_per_minute: int = 4,
        needs_network: Callable[[str], bool] | None = None,
        known_urls: KnownURLFile | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if max_entries < 1:
            raise ConfigurationError("max_entries must be at least 1")
        if max_ttl <= timedelta(0) or negative_ttl < timedelta(0):
            raise ConfigurationError("max_ttl must be positive and negative_ttl not negative")
        if new_urls_per_minute < 0 or new_urls_per_client_per_minute < 0:
            raise ConfigurationError(
                "new_urls_per_minute and new_urls_per_client_per_minute must not be negative"
            )
        self._loader = loader
        self._max_entries = max_entries
        self._max_ttl = max_ttl
        self._negative_ttl = negative_ttl
        self._permanent_negative_ttl = max(negative_ttl, _PERMANENT_NEGATIVE_TTL)
        self._new_urls_per_minute = new_urls_per_minute
        self._new_urls_per_client = new_urls_per_client_per_minute
        #: Whether loading a URL goes to the network (rationed) or not (a pinned file: never).
        self._needs_network = needs_network or _always
        self._clock = clock or _utcnow
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._failures: OrderedDict[str, _Failure] = OrderedDict()
        self._inflight: dict[str, Future[T]] = {}
        # Outlives entries (an evicted URL is still known) but is bounded all the same.
        self._known: OrderedDict[str, None] = OrderedDict()
        self._max_known = max(256, 4 * max_entries)
        self._new_loads: deque[datetime] = deque()
        self._client_loads: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._known_urls = known_urls
        self._write_lock = threading.Lock()
        self._vouched: dict[str, None] = {}
        if known_urls is not None:
            for url in known_urls.load():
                self._vouched[url] = None
                self._known[url] = None
        self._hits = self._misses = self._loads = self._load_failures = 0
        self._rationed = self._negative_hits = 0

    def get(self, url: str, *, now: datetime | None = None, client: str | None = None) -> T:
        """The value for ``url``, loading it (once, whoever else asks meanwhile) if needed.

        ``now`` saves a clock read when the caller has just made one from the same clock.
        ``client`` (the peer's IP address) gives the sender its own share of new-URL loads;
        without it only the overall ration applies."""
        if now is None:
            now = self._clock()
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None and now < entry.valid_until:
                self._entries.move_to_end(url)
                self._hits += 1
                return entry.value
            future, owner = self._miss(url, now, client)
        if owner:
            self._load(url, future)
        return self._outcome(future, owner=owner)

    async def aget(self, url: str, *, now: datetime | None = None, client: str | None = None) -> T:
        """:meth:`get` for asyncio: a hit returns at once; a load runs in the loop's default
        executor, so the event loop is never blocked, and is shared with concurrent
        :meth:`get`/:meth:`aget` callers."""
        if now is None:
            now = self._clock()
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None and now < entry.valid_until:
                self._entries.move_to_end(url)
                self._hits += 1
                return entry.value
            future, owner = self._miss(url, now, client)
        if owner:
            loop = asyncio.get_running_loop()
            call = functools.partial(contextvars.copy_context().run, self._load, url, future)
            try:
                running = loop.run_in_executor(None, call)
            except BaseException as exc:  # executor shut down: the load will never run
                self._settle(url, future, exc)
                raise
            # If this task is cancelled here the thread carries on and settles the future
            # for everybody else: a thread cannot be interrupted, and need not be.
            await running
        else:
            await _wait_without_raising(future)
        return self._outcome(future, owner=owner)

    def vouch(self, url: str) -> None:
        """Record that a signature verified with ``url``'s certificate: the URL is never
        rationed again, and is saved to the :class:`KnownURLFile` if there is one. Cheap when
        the URL is already vouched for (every verified message calls this)."""
        if url in self._vouched:  # a dict lookup is atomic: no lock on the hot path
            return
        with self._lock:
            self._vouched[url] = None
            while len(self._vouched) > _MAX_VOUCHED:
                del self._vouched[next(iter(self._vouched))]
            self._remember_known(url)
            urls = list(self._vouched)
        if self._known_urls is not None:
            with self._write_lock:  # rare (a new certificate): one writer at a time
                self._known_urls.save(urls)

    def vouched(self, url: str) -> bool:
        """Whether :meth:`vouch` was called for ``url`` (or the known-URL file named it)."""
        return url in self._vouched

    def clear(self) -> None:
        """Forget cached values and remembered failures. Loads in flight still complete, and
        rationing state (known URLs, the last minute's new loads) is kept on purpose."""
        with self._lock:
            self._entries.clear()
            self._failures.clear()

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                loads=self._loads,
                failures=self._load_failures,
                rationed=self._rationed,
                negative_hits=self._negative_hits,
            )

    # -- under the lock -------------------------------------------------------------------

    def _miss(self, url: str, now: datetime, client: str | None) -> tuple[Future[T], bool]:
        """The future to wait on and whether the caller must run the load; raises for a
        remembered failure or a rationed URL. Caller holds the lock."""
        failure = self._failures.get(url)
        if failure is not None:
            if now < failure.until:
                self._negative_hits += 1
                raise _remembered(failure)
            del self._failures[url]
        self._misses += 1
        pending = self._inflight.get(url)
        if pending is not None:
            return pending, False
        self._entries.pop(url, None)  # expired: do not let it hold an LRU slot while loading
        if url in self._known:
            self._known.move_to_end(url)
        elif self._needs_network(url) and not self._ration(now, client):
            self._rationed += 1
            raise CertificateFetchError(
                "too many new certificate URLs (over "
                f"{self._new_urls_per_minute} a minute, or {self._new_urls_per_client} from one "
                "client); not fetched, try again later",
                value=url,
            )
        future: Future[T] = Future()
        # A running future cannot be cancelled: one impatient waiter (a cancelled asyncio
        # task wraps and cancels it) must not fail the load for everybody.
        future.set_running_or_notify_cancel()
        self._inflight[url] = future
        self._loads += 1
        return future, True

    def _ration(self, now: datetime, client: str | None) -> bool:
        """Take one slot of the overall share and of ``client``'s own share, or neither."""
        cutoff = now - _RATION_WINDOW
        window = _slide(self._new_loads, now, cutoff)
        if len(window) >= self._new_urls_per_minute:
            return False
        if client is None:
            window.append(now)
            return True
        key = _client_key(client)
        mine = self._client_loads.get(key)
        if mine is None:
            mine = self._client_loads[key] = deque()
            while len(self._client_loads) > _MAX_CLIENTS:
                self._client_loads.popitem(last=False)
        else:
            self._client_loads.move_to_end(key)
            _slide(mine, now, cutoff)
        if len(mine) >= self._new_urls_per_client:
            return False
        window.append(now)
        mine.append(now)
        return True

    def _remember_known(self, url: str) -> None:
        self._known[url] = None
        self._known.move_to_end(url)
        while len(self._known) > self._max_known:
            self._known.popitem(last=False)

    # -- outside the lock ------------------------------------------------------------------

    def _load(self, url: str, future: Future[T]) -> None:
        """Run the loader and settle ``future``; never raises, so no waiter is ever stranded."""
        try:
            try:
                loaded = self._loader(url)
            except SNSSubscriberError as exc:
                temporary = isinstance(exc, TemporaryFailureError)
                until = self._clock() + (self._negative_ttl if temporary else self._permanent_negative_ttl)
                with self._lock:
                    self._load_failures += 1
                    del self._inflight[url]
                    self._failures[url] = _Failure(_clone(exc), until)
                    self._failures.move_to_end(url)
                    while len(self._failures) > self._max_entries:
                        self._failures.popitem(last=False)
                future.set_exception(exc)
                return
            valid_until = min(loaded.expires_at, self._clock() + self._max_ttl)
            with self._lock:
                del self._inflight[url]
                entries = self._entries
                entries[url] = _Entry(loaded.value, valid_until)
                entries.move_to_end(url)
                while len(entries) > self._max_entries:
                    entries.popitem(last=False)
                self._remember_known(url)
            future.set_result(loaded.value)
        except BaseException as exc:  # a bug (here, in the loader or the clock): not remembered
            self._settle(url, future, exc)

    def _settle(self, url: str, future: Future[T], exc: BaseException) -> None:
        with self._lock:
            self._load_failures += 1
            if self._inflight.get(url) is future:
                del self._inflight[url]
        if not future.done():
            future.set_exception(exc)

    @staticmethod
    def _outcome(future: Future[T], *, owner: bool) -> T:
        error = future.exception()  # waits; does not raise, so the shared instance stays clean
        if error is None:
            return future.result()
        if owner or not isinstance(error, SNSSubscriberError):
            raise error
        # Each waiter gets its own instance: callers add message context to what they catch,
        # and one instance raised in many threads would gather everybody's traceback.
        raise _clone(error)


def _always(_: str) -> bool:
    return True


def _slide(window: deque[datetime], now: datetime, cutoff: datetime) -> deque[datetime]:
    """Drop the times of ``window`` older than ``cutoff`` (all of them if the clock went back)."""
    if window and window[-1] > now:  # the clock was set back: restart the window
        window.clear()
    while window and window[0] <= cutoff:
        window.popleft()
    return window


def _client_key(client: str) -> str:
    """One key per IPv4 address and per IPv6 /64 (what one host can easily vary within)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client[:64]  # not an address (a test client, a Unix socket): bounded as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class KnownURLFile:
    """Certificate URLs that verified a genuine signature, one per line in a 0600 text file.

    Why a file: the point is to remember them across restarts, and nothing else needs it.
    Only URLs are kept, never certificates: a URL in this file only exempts that URL from
    rationing, while every load still goes through the URL policy, TLS and the certificate
    checks, so a tampered file cannot make anything trusted. Several processes (replicas on a
    shared volume) may share the file: each write merges what the file holds with the writer's
    list and replaces the file atomically, so only two writes at the same instant can lose a
    URL, which the next restart then downloads once more. Unreadable or unwritable files are
    logged and otherwise ignored: remembering is an optimisation, never a reason to refuse.
    """

    MAX_BYTES: Final = 64 * 1024
    MAX_URL_LENGTH: Final = 512

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                data = handle.read(self.MAX_BYTES)
        except FileNotFoundError:
            return []
        except OSError as exc:
            logger.warning("cannot read known certificate URLs from %s: %s", self.path, exc)
            return []
        urls: dict[str, None] = {}  # ordered, without duplicates
        for line in data.decode("utf-8", "replace").splitlines():
            url = line.strip()
            if url.startswith(("https://", "http://")) and len(url) <= self.MAX_URL_LENGTH:
                urls[url] = None
        return list(urls)[-_MAX_VOUCHED:]

    def save(self, urls: list[str]) -> None:
        merged = list(dict.fromkeys([*self.load(), *urls]))[-_MAX_VOUCHED:]
        text = "".join(f"{url}\n" for url in merged)
        directory = self.path.parent
        try:
            # mkstemp creates the file 0600; os.replace makes the new list appear at once.
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            logger.warning("cannot save known certificate URLs to %s: %s", self.path, exc)


async def _wait_without_raising(future: Future[Any]) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def wake(_: Future[Any]) -> None:
        # A closed loop has nobody left waiting on it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_release, done)

    future.add_done_callback(wake)
    await done


def _release(done: asyncio.Future[None]) -> None:
    if not done.done():  # a cancelled waiter
        done.set_result(None)


def _clone(error: _E, reason: str | None = None) -> _E:
    """A fresh exception of the same type and context, without traceback or message context."""
    if reason is None:
        return error.replace(message_id=None, topic_arn=None)
    return error.replace(message_id=None, topic_arn=None, reason=reason)


def _remembered(failure: _Failure) -> SNSSubscriberError:
    error = failure.error
    when = failure.until.isoformat(timespec="seconds")
    reason = f"{error.reason} (cached failure; not retried before {when})"
    if isinstance(error, TemporaryFailureError) and not isinstance(error, CertificateFetchError):
        return CertificateFetchError(reason, value=error.value)
    return _clone(error, reason)
