"""Group commit on its own: how batches form, and how their failures reach each caller."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from sns_subscriber.exceptions import StoreUnavailableError
from sns_subscriber.stores._batching import GroupCommitter


class Writer:
    """A batch writer that records its batches; it can be held to let a queue build up, and
    told to fail its next calls (``outcomes``: None = succeed, an exception = raise it)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.outcomes: deque[BaseException | None] = deque()
        self.seen: set[str] = set()

    def __call__(self, items: Sequence[str]) -> list[bool]:
        self.entered.set()
        self.release.wait(10)
        if self.outcomes and (error := self.outcomes.popleft()) is not None:
            raise error
        self.batches.append(list(items))
        results = []
        for item in items:
            results.append(item not in self.seen)
            self.seen.add(item)
        return results

    def hold(self) -> None:
        self.entered.clear()
        self.release.clear()


@pytest.fixture
def writer() -> Writer:
    return Writer()


@pytest.fixture
def committer(writer: Writer) -> Iterator[GroupCommitter[str]]:
    committer = GroupCommitter(writer, max_batch=8)
    yield committer
    writer.release.set()
    committer.close()


def test_requests_that_arrive_during_a_commit_share_the_next_one(
    writer: Writer, committer: GroupCommitter[str]
) -> None:
    writer.hold()
    first = committer.submit("a")
    assert writer.entered.wait(5)
    waiting = [committer.submit(f"b{i}") for i in range(20)]
    writer.release.set()
    assert first.result(timeout=5) is True
    assert all(future.result(timeout=5) for future in waiting)
    assert [len(batch) for batch in writer.batches] == [1, 8, 8, 4]


def test_a_lone_request_is_not_kept_waiting(writer: Writer, committer: GroupCommitter[str]) -> None:
    assert committer.submit("alone").result(timeout=5) is True
    assert writer.batches == [["alone"]]


def test_batches_are_bounded_in_bytes(writer: Writer) -> None:
    committer = GroupCommitter(writer, max_batch=100, weigh=len, max_batch_bytes=10)
    try:
        writer.hold()
        committer.submit("x")
        assert writer.entered.wait(5)
        futures = [committer.submit("y" * 4) for _ in range(5)] + [committer.submit("z" * 50)]
        writer.release.set()
        for future in futures:
            future.result(timeout=5)
        # 4 + 4 fit in 10 bytes, a third would not; a too-large item still goes, alone.
        assert [len(batch) for batch in writer.batches] == [1, 2, 2, 1, 1]
    finally:
        committer.close()


def test_an_outage_fails_each_caller_of_its_batch_with_its_own_error(
    writer: Writer, committer: GroupCommitter[str]
) -> None:
    writer.hold()
    blocker = committer.submit("blocker")
    assert writer.entered.wait(5)
    batch = [committer.submit(f"m{i}") for i in range(3)]  # queued: they form the next batch
    cause = OSError("disk I/O error")
    outage = StoreUnavailableError("database unavailable")
    outage.__cause__ = cause
    writer.outcomes.extend([None, outage])
    writer.release.set()
    assert blocker.result(timeout=5) is True
    errors = []
    for future in batch:
        with pytest.raises(StoreUnavailableError, match="database unavailable") as caught:
            future.result(timeout=5)
        errors.append(caught.value)
    # Raised in three threads, one shared exception would collect all their tracebacks.
    assert len({id(error) for error in errors}) == 3
    assert all(error.__cause__ is cause for error in errors)
    assert committer.submit("later").result(timeout=5) is True  # the committer carries on


def test_a_bug_in_the_writer_reaches_the_callers(writer: Writer, committer: GroupCommitter[str]) -> None:
    writer.outcomes.append(KeyError("bug"))
    with pytest.raises(KeyError):
        committer.submit("a").result(timeout=5)
    assert committer.submit("b").result(timeout=5) is True


def test_a_writer_returning_the_wrong_count_is_a_bug() -> None:
    committer: GroupCommitter[str] = GroupCommitter(lambda items: [True], max_batch=8)
    try:
        assert committer.submit("alone").result(timeout=5) is True
    finally:
        committer.close()
    broken: GroupCommitter[str] = GroupCommitter(lambda items: [], max_batch=8)
    try:
        with pytest.raises(RuntimeError, match="0 results for 1"):
            broken.submit("x").result(timeout=5)
    finally:
        broken.close()


def test_a_cancelled_request_is_not_written(writer: Writer, committer: GroupCommitter[str]) -> None:
    writer.hold()
    committer.submit("blocker")
    assert writer.entered.wait(5)
    cancelled = committer.submit("cancelled")
    kept = committer.submit("kept")
    assert cancelled.cancel()
    writer.release.set()
    assert kept.result(timeout=5) is True
    assert all("cancelled" not in batch for batch in writer.batches)


def test_close_writes_the_queue_then_refuses(writer: Writer) -> None:
    committer = GroupCommitter(writer, max_batch=8)
    writer.hold()
    first = committer.submit("a")
    assert writer.entered.wait(5)
    queued = [committer.submit(f"q{i}") for i in range(5)]
    threading.Timer(0.1, writer.release.set).start()
    committer.close()
    assert first.result(timeout=0) is True
    assert all(future.result(timeout=0) for future in queued)
    with pytest.raises(StoreUnavailableError, match="closed"):
        committer.submit("late").result(timeout=0)
    committer.close()


def test_max_batch_must_be_positive(writer: Writer) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitter(writer, max_batch=0)


class CountingLoop(asyncio.SelectorEventLoop):
    """Counts the wake-ups other threads ask of it."""

    wakeups = 0

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Any, *args: Any, context: Any = None
    ) -> asyncio.Handle:
        self.wakeups += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


def test_async_callers_are_woken_once_per_batch(writer: Writer, committer: GroupCommitter[str]) -> None:
    loop = CountingLoop()

    async def main() -> list[bool]:
        writer.hold()
        first = committer.submit_async("first")
        await asyncio.to_thread(writer.entered.wait, 5)
        waiting = [committer.submit_async(f"w{i}") for i in range(8)]
        loop.wakeups = 0  # to_thread's own wake-up is not the committer's
        writer.release.set()
        return [await first, *await asyncio.gather(*waiting)]

    try:
        results = loop.run_until_complete(main())
    finally:
        loop.close()
    assert results == [True] * 9
    assert [len(batch) for batch in writer.batches] == [1, 8]
    assert loop.wakeups == 2  # one per committed batch, not one per row


def test_async_duplicate_and_outage_results(writer: Writer, committer: GroupCommitter[str]) -> None:
    async def main() -> tuple[bool, bool, BaseException | None]:
        first = await committer.submit_async("same")
        second = await committer.submit_async("same")
        writer.outcomes.append(StoreUnavailableError("database is down"))
        try:
            await committer.submit_async("during-outage")
        except StoreUnavailableError as exc:
            return first, second, exc
        return first, second, None

    first, second, error = asyncio.run(main())
    assert (first, second) == (True, False)
    assert isinstance(error, StoreUnavailableError) and "down" in error.reason


def test_a_cancelled_async_request_is_not_written(writer: Writer, committer: GroupCommitter[str]) -> None:
    async def main() -> bool:
        writer.hold()
        committer.submit("blocker")
        await asyncio.to_thread(writer.entered.wait, 5)
        cancelled = committer.submit_async("cancelled")
        kept = committer.submit_async("kept")
        cancelled.cancel()
        writer.release.set()
        return await kept

    assert asyncio.run(main()) is True
    assert all("cancelled" not in batch for batch in writer.batches)


def test_async_submit_after_close_fails(writer: Writer) -> None:
    committer = GroupCommitter(writer)
    committer.close()

    async def main() -> None:
        await committer.submit_async("late")

    with pytest.raises(StoreUnavailableError, match="closed"):
        asyncio.run(main())


def test_a_full_queue_refuses_at_once_instead_of_growing(writer: Writer) -> None:
    """Overload: while the database is stalled, rows queue behind the running commit. Past
    ``max_pending`` a new row is refused at once (the receiver answers 503, SNS retries)
    instead of waiting past SNS's timeout with its body held in memory."""
    committer = GroupCommitter(writer, max_batch=8, max_pending=3)
    try:
        writer.hold()
        first = committer.submit("in-flight")
        assert writer.entered.wait(5)  # the committer holds "in-flight" in a stalled write
        queued = [committer.submit(f"queued-{i}") for i in range(3)]
        refused = committer.submit("one too many")
        with pytest.raises(StoreUnavailableError, match="not keeping up"):
            refused.result(timeout=0)
        assert committer.pending == 3
        writer.release.set()  # the store comes back: everything queued is written
        assert first.result(5) is True
        assert [f.result(5) for f in queued] == [True, True, True]
        assert committer.high_water == 3
        assert committer.submit("after recovery").result(5) is True
    finally:
        writer.release.set()
        committer.close()


def test_the_queue_is_bounded_in_bytes_too(writer: Writer) -> None:
    committer = GroupCommitter(writer, weigh=len, max_pending=100, max_pending_bytes=10)
    try:
        writer.hold()
        first = committer.submit("x")
        assert writer.entered.wait(5)
        fits = committer.submit("a" * 10)
        with pytest.raises(StoreUnavailableError):
            committer.submit("b").result(timeout=0)
        writer.release.set()
        assert (first.result(5), fits.result(5)) == (True, True)
    finally:
        writer.release.set()
        committer.close()


def test_max_pending_must_be_positive(writer: Writer) -> None:
    with pytest.raises(ValueError, match="max_pending"):
        GroupCommitter(writer, max_pending=0)
