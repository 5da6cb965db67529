"""What the SQLite and PostgreSQL stores do the same way, written once.

Both drivers queue inserts on a :class:`~._batching.GroupCommitter`, finish a claimed message
through their own ``_finish`` (one UPDATE, the dialect's), and close a committer and a
connection pool. Everything here is built on those three; the SQL stays in each driver.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Protocol, Self

from ._batching import GroupCommitter
from .base import SET_ASIDE_STATUSES, Clock, InboxStatus, NewMessage, as_utc, check_new_message

__all__ = ["SQLStore"]


class _Closable(Protocol):
    def close(self) -> None: ...


class SQLStore:
    """Base of :class:`~.sqlite.SQLiteStore` and :class:`~.postgres.PostgresStore`."""

    _clock: Clock
    _committer: GroupCommitter[NewMessage]
    _pool: _Closable
    _close_lock: threading.Lock
    _closed: bool

    def _finish(
        self,
        message_id: str,
        worker_id: str,
        status: InboxStatus,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        actions: Sequence[str] = (),
        producer: str | None = None,
    ) -> bool:
        """PROCESSING -> ``status`` if ``worker_id`` still holds the message (each driver's SQL)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # -- receiving: the group committer ------------------------------------------------------

    def submit(self, item: NewMessage) -> Future[bool]:
        return self._committer.submit(check_new_message(item))

    def submit_async(self, item: NewMessage) -> asyncio.Future[bool]:
        return self._committer.submit_async(check_new_message(item))

    def add(self, item: NewMessage) -> bool:
        return self.submit(item).result()

    # -- finishing a claimed message ----------------------------------------------------------

    def complete(
        self, message_id: str, worker_id: str, *, actions: Sequence[str] = (), producer: str | None = None
    ) -> bool:
        return self._finish(message_id, worker_id, InboxStatus.DONE, actions=actions, producer=producer)

    def retry(
        self,
        message_id: str,
        worker_id: str,
        *,
        error: str,
        delay_seconds: float,
        producer: str | None = None,
    ) -> bool:
        due = self._now() + timedelta(seconds=max(0.0, delay_seconds))
        return self._finish(
            message_id, worker_id, InboxStatus.RETRYING, error=error, next_attempt_at=due, producer=producer
        )

    def fail(self, message_id: str, worker_id: str, *, error: str, producer: str | None = None) -> bool:
        return self._finish(message_id, worker_id, InboxStatus.DEAD, error=error, producer=producer)

    def set_aside(self, message_id: str, worker_id: str, *, status: InboxStatus, reason: str) -> bool:
        if InboxStatus(status) not in SET_ASIDE_STATUSES:
            raise ValueError(f"set_aside takes test or stale, not {status}")
        return self._finish(message_id, worker_id, status, error=reason)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._committer.close()
        self._pool.close()
