"""Retention: delete finished messages after a while, in small batches, keeping tombstones.

The inbox row of a message is also its MessageId *tombstone*: while it exists, another copy
of the message is a duplicate (200, nothing run again). SNS signs a Timestamp, and a
verifier accepts a message until ``max_age + clock_skew`` after it; the Timestamp itself may
be up to ``clock_skew`` ahead of our clock when the message first arrives. So a copy of a
message first received at R can still be accepted until R + ``max_age`` + 2 × ``clock_skew``
(confirmations: ``confirmation_max_age`` instead of ``max_age``). Rows younger than that are
never purged, whatever age an operator or the retention settings ask for; after that, a
replay is refused as too old whether or not its MessageId is still known.

Deletion goes through :meth:`~sns_subscriber.stores.InboxStore.purge_batch`: each batch is
one short transaction, with a pause between batches at least as long as the batch took, so
receivers committing new messages (SQLite has one writer at a time) wait for at most one batch
and have the write lock at least half the time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from .stores.base import InboxStore, PurgeCutoffs, as_utc, utc_now
from .verification import VerificationPolicy

__all__ = ["RetentionPolicy", "TombstoneWindow", "purge"]

logger = logging.getLogger("sns_subscriber.retention")


#: ``VerificationPolicy.confirmation_max_age``'s default (a test keeps the two equal).
_DEFAULT_CONFIRMATION_MAX_AGE: Final = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class TombstoneWindow:
    """How long after its arrival a message's MessageId must stay known."""

    notifications: timedelta = timedelta(hours=1, minutes=10)
    confirmations: timedelta = timedelta(days=2, minutes=10)

    @classmethod
    def for_policy(cls, policy: VerificationPolicy) -> TombstoneWindow:
        """The window in which ``policy`` would still accept a copy of a stored message."""
        return cls.for_ages(policy.max_age, policy.clock_skew, policy.confirmation_max_age)

    @classmethod
    def for_ages(
        cls,
        max_age: timedelta,
        clock_skew: timedelta,
        confirmation_max_age: timedelta = _DEFAULT_CONFIRMATION_MAX_AGE,
    ) -> TombstoneWindow:
        # Twice the skew: the first copy's Timestamp may be ahead of our clock, a replay's behind.
        skew = clock_skew * 2
        return cls(notifications=max_age + skew, confirmations=confirmation_max_age + skew)

    def cutoffs(self, now: datetime, *, done_before: datetime, dead_before: datetime) -> PurgeCutoffs:
        now = as_utc(now)
        return PurgeCutoffs(
            done_before=as_utc(done_before),
            dead_before=as_utc(dead_before),
            notification_tombstones_since=now - self.notifications,
            confirmation_tombstones_since=now - self.confirmations,
        )


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """``[store] retention_days`` / ``dead_retention_days`` and the tombstone window."""

    #: Days DONE messages are kept after they finished; None keeps them forever.
    done_days: float | None = 30.0
    #: Days DEAD messages are kept; None keeps them forever.
    dead_days: float | None = 90.0
    tombstones: TombstoneWindow = TombstoneWindow()
    batch_size: int = 500
    #: Seconds between batches: the write lock is free for receivers in between.
    pause_seconds: float = 0.01

    def __post_init__(self) -> None:
        if any(days is not None and days < 0 for days in (self.done_days, self.dead_days)):
            raise ValueError("retention days must be >= 0")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")

    def cutoffs(self, now: datetime) -> PurgeCutoffs:
        now = as_utc(now)
        return self.tombstones.cutoffs(
            now, done_before=_before(now, self.done_days), dead_before=_before(now, self.dead_days)
        )


def _before(now: datetime, days: float | None) -> datetime:
    return _NEVER if days is None else now - timedelta(days=days)


#: A cutoff nothing is older than.
_NEVER: Final = datetime(1970, 1, 1, tzinfo=UTC)


def purge(
    store: InboxStore,
    cutoffs: PurgeCutoffs,
    *,
    batch_size: int = 500,
    pause_seconds: float = 0.01,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete what ``cutoffs`` allow, batch by batch; return how many messages went.

    Stops when a batch comes back short, or after ``max_batches`` (the worker's periodic run
    takes a bounded bite and comes back later). ``on_batch`` sees each batch's count.
    """
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        started = time.monotonic()
        deleted = store.purge_batch(cutoffs, limit=batch_size)
        took = time.monotonic() - started
        batches += 1
        total += deleted
        if on_batch is not None:
            on_batch(deleted)
        if deleted < batch_size:
            break
        # Rest at least as long as the batch took: receivers get the write lock at least half
        # the time, however slow deleting is on this host.
        if pause_seconds > 0:
            time.sleep(max(pause_seconds, took))
    return total


class RetentionJob:
    """The worker's periodic retention: one bounded bite per run."""

    def __init__(
        self,
        store: InboxStore,
        policy: RetentionPolicy,
        *,
        max_batches: int = 20,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.policy = policy
        self.max_batches = max_batches
        self.clock = clock

    def __call__(self) -> bool:
        """Run one bite; True when there is more to delete (call again soon)."""
        policy = self.policy
        deleted = purge(
            self.store,
            policy.cutoffs(self.clock()),
            batch_size=policy.batch_size,
            pause_seconds=policy.pause_seconds,
            max_batches=self.max_batches,
        )
        if deleted:
            logger.info("retention: deleted %d finished message(s)", deleted)
        return deleted >= policy.batch_size * self.max_batches
