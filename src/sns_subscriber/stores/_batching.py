"""Group commit: the inserts of concurrent requests share one transaction and one fsync.

One commit per request caps an fsync-bound store at a few thousand messages per second;
committing whatever is queued together keeps every acknowledgement durable while the cost of
a commit is shared by the whole batch (``bench/ingest.py`` measures it). Nobody waits for a
batch to fill: the committer takes what has queued up while the previous commit was running,
so a lone request is committed at once and a crowd is committed together.

The queue is bounded (``max_pending`` rows, ``max_pending_bytes`` of bodies). When the
database is slow or stalled, rows queue up behind the running commit; past the bound a new
row is refused at once with ``StoreUnavailableError`` (the receiver answers 503 with
Retry-After, SNS delivers again later) instead of joining a queue that would outlast SNS's
15-second wait and hold every body in memory meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeAlias, TypeVar

from ..exceptions import StoreUnavailableError

__all__ = ["DEFAULT_MAX_PENDING", "DEFAULT_MAX_PENDING_BYTES", "GroupCommitter"]

logger = logging.getLogger("sns_subscriber.stores")

T = TypeVar("T")

#: Rows that may wait for a commit: a fraction of a second of a healthy store's work (group
#: commit writes some 20,000 rows a second), so only a slow or stalled store ever fills it.
DEFAULT_MAX_PENDING = 4096
#: Bytes of bodies that may wait for a commit.
DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024

#: Writes a batch in one transaction and returns, per item, whether it was inserted; returns
#: only after the commit is durable.
BatchWriter = Callable[[Sequence[T]], Sequence[bool]]

#: A waiter: a thread's Future, or an asyncio future with the loop it belongs to.
_Waiter: TypeAlias = "Future[bool] | tuple[asyncio.Future[bool], asyncio.AbstractEventLoop]"
#: What a waiter gets: the insert result, or the exception to raise.
_Settlement: TypeAlias = "bool | BaseException"


class GroupCommitter(Generic[T]):
    """Runs ``write`` on one background thread over whatever has been submitted.

    ``weigh`` (bytes of an item) and ``max_batch_bytes`` bound a batch's size so a burst of
    large bodies does not become one huge statement; a batch always holds at least one item.
    ``max_pending`` (rows) and ``max_pending_bytes`` (by ``weigh``) bound what waits for a
    commit: past them :meth:`submit` fails at once with ``StoreUnavailableError``.
    """

    def __init__(
        self,
        write: BatchWriter[T],
        *,
        max_batch: int = 256,
        weigh: Callable[[T], int] | None = None,
        max_batch_bytes: int = 16 * 1024 * 1024,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        name: str = "sns-store-commit",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, not {max_batch}")
        if max_pending < 1 or max_pending_bytes < 1:
            raise ValueError(f"max_pending ({max_pending}) and max_pending_bytes must be >= 1")
        self._write = write
        self._max_batch = max_batch
        self._weigh = weigh
        self._max_batch_bytes = max_batch_bytes
        self._name = name
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._pending: deque[tuple[T, _Waiter]] = deque()
        self._pending_bytes = 0
        #: The longest the queue has been (rows): what an operator or a test compares with the bound.
        self.high_water = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Rows waiting for a commit now."""
        return len(self._pending)

    def submit(self, item: T) -> Future[bool]:
        future: Future[bool] = Future()
        refused = self._enqueue(item, future)
        if refused is not None:
            future.set_exception(refused)
        return future

    def submit_async(self, item: T) -> asyncio.Future[bool]:
        """:meth:`submit` for the running event loop: the loop is woken once per committed
        batch (not once per row), which matters to a server answering thousands per second."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        refused = self._enqueue(item, (future, loop))
        if refused is not None:
            future.set_exception(refused)
        return future

    def _enqueue(self, item: T, waiter: _Waiter) -> StoreUnavailableError | None:
        """Queue the item, or return why it was refused."""
        weight = self._weigh(item) if self._weigh is not None else 0
        with self._cond:
            if self._closing:
                return StoreUnavailableError("the store is closed")
            # One item heavier than the byte bound still goes when nothing else waits.
            if len(self._pending) >= self._max_pending or (
                self._pending and self._pending_bytes + weight > self._max_pending_bytes
            ):
                return StoreUnavailableError(
                    f"the store is not keeping up: {len(self._pending)} message(s) already wait "
                    "for a commit; retry later"
                )
            if self._thread is None:
                # Started on first use: a store opened only to read (CLI) never needs it.
                # Daemon, because close() is what flushes; a process that exits without it
                # has answered nobody for the rows still queued.
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._pending.append((item, waiter))
            self._pending_bytes += weight
            self.high_water = max(self.high_water, len(self._pending))
            self._cond.notify()
        return None

    def close(self) -> None:
        """Commit everything submitted so far, then stop the thread; idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            # Give the callers the last commit just woke a moment to queue their next rows:
            # without it a batch holds only what arrived while the commit ran.
            time.sleep(0)
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch = self._take()
            # A caller may have given up (asyncio cancellation): its row is not written. A
            # thread's Future cannot be cancelled once the write starts; an asyncio caller
            # cancelled later gets CancelledError for a stored row, and SNS's redelivery of
            # it is then answered "duplicate".
            live = [(item, waiter) for item, waiter in batch if _start(waiter)]
            if live:
                self._commit(live)

    def _take(self) -> list[tuple[T, _Waiter]]:
        batch = [self._pending.popleft()]
        size = self._weigh(batch[0][0]) if self._weigh else 0
        while self._pending and len(batch) < self._max_batch:
            if self._weigh is not None:
                weight = self._weigh(self._pending[0][0])
                if size + weight > self._max_batch_bytes:
                    break
                size += weight
            batch.append(self._pending.popleft())
        self._pending_bytes -= size
        return batch

    def _commit(self, batch: list[tuple[T, _Waiter]]) -> None:
        try:
            results = self._write([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch writer returned {len(results)} results for {len(batch)} items")
        except StoreUnavailableError as exc:
            settlements: list[_Settlement] = []
            for _ in batch:
                # One exception object per waiter: raising a shared one from many threads
                # would splice all their tracebacks together. The driver's error stays the cause.
                error = StoreUnavailableError(exc.reason, value=exc.value)
                error.__cause__ = exc.__cause__ if exc.__cause__ is not None else exc
                settlements.append(error)
            _settle(batch, settlements)
            return
        except Exception as exc:  # a bug: every waiter learns of it, the committer survives
            logger.exception("group commit of %d item(s) failed", len(batch))
            _settle(batch, [exc] * len(batch))
            return
        except BaseException as exc:
            _settle(batch, [exc] * len(batch))
            raise
        _settle(batch, results)


def _start(waiter: _Waiter) -> bool:
    """Whether the waiter still wants its row written (and, for a Future, can no longer
    be cancelled)."""
    if isinstance(waiter, Future):
        return waiter.set_running_or_notify_cancel()
    return not waiter[0].cancelled()


def _settle(batch: Sequence[tuple[object, _Waiter]], settlements: Sequence[_Settlement]) -> None:
    """Give every waiter its settlement: Futures directly, asyncio futures in one callback
    per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], _Settlement]]] = {}
    for (_, waiter), settlement in zip(batch, settlements, strict=True):
        if isinstance(waiter, Future):
            if isinstance(settlement, BaseException):
                waiter.set_exception(settlement)
            else:
                waiter.set_result(settlement)
        else:
            by_loop.setdefault(waiter[1], []).append((waiter[0], settlement))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody left waiting
            loop.call_soon_threadsafe(_settle_in_loop, settled)


def _settle_in_loop(settled: list[tuple[asyncio.Future[bool], _Settlement]]) -> None:
    for future, settlement in settled:
        if future.done():  # cancelled meanwhile
            continue
        if isinstance(settlement, BaseException):
            future.set_exception(settlement)
        else:
            future.set_result(settlement)
