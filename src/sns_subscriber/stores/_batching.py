"""Group commit: many concurrent inserts, one transaction, each caller told after commit.

One commit per request caps an fsync-bound store at a few thousand messages per second;
committing whatever is queued together keeps every acknowledgement durable while the cost of
one fsync is shared by the whole batch (DESIGN §6).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from ..exceptions import StoreUnavailableError
from .base import NewMessage

__all__ = ["GroupCommitter"]

logger = logging.getLogger("sns_subscriber.stores")

_STOP = object()

#: Writes a batch in one transaction; returns, per item, whether it was inserted.
BatchWriter = Callable[[Sequence[NewMessage]], Sequence[bool]]


class GroupCommitter:
    def __init__(self, write: BatchWriter, *, max_batch: int = 256, name: str = "sns-group-commit") -> None:
        self._write = write
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[NewMessage, Future[bool]] | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: NewMessage) -> Future[bool]:
        future: Future[bool] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(StoreUnavailableError("the store is closed"))
                return future
            self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._flush(batch)  # type: ignore[arg-type]

    def _flush(self, batch: list[tuple[NewMessage, Future[bool]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = self._write(items)
        except StoreUnavailableError as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        except Exception as exc:  # a bug: every waiter learns of it, the thread survives
            logger.exception("group commit failed")
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), inserted in zip(batch, results, strict=True):
            future.set_result(inserted)
