"""The console's reads and bulk replay, on every store: filtered keyset pages, bounded
statistics, the action ledger, replay by filter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sns_subscriber.stores import InboxStatus, InboxStore
from sns_subscriber.stores.base import MessageFilter, PageCursor

from ..support.clock import FakeClock
from ..support.stores import TOPIC, message

OTHER_TOPIC = "arn:aws:sns:eu-west-1:123456789012:alarms"


def _finish(store: InboxStore, message_id: str, status: InboxStatus, producer: str | None = None) -> None:
    """Claim everything claimable and finish ``message_id`` with ``status``; leave the rest received."""
    claimed = store.claim("w", limit=1000)
    for record in claimed:
        if record.message_id != message_id:
            continue
        if status is InboxStatus.DONE:
            assert store.complete(message_id, "w", actions=["handler:/x:log"], producer=producer)
        else:
            assert store.fail(message_id, "w", error="boom", producer=producer)
    # Put the others back: a zero-delay retry keeps them claimable (status retrying).
    for record in claimed:
        if record.message_id != message_id:
            store.retry(record.message_id, "w", error="put back", delay_seconds=0)


@pytest.fixture
def filled(store: InboxStore, clock: FakeClock) -> InboxStore:
    """Twelve messages one second apart: even ones on TOPIC, odd ones on OTHER_TOPIC."""
    for i in range(12):
        topic = TOPIC if i % 2 == 0 else OTHER_TOPIC
        subject = "100% over <budget>" if i == 3 else f"subject {i}"
        assert store.add(message(f"m{i:02d}", topic_arn=topic, subject=subject))
        clock.advance(1)
    return store


def ids(store: InboxStore, where: MessageFilter, limit: int = 50) -> list[str]:
    """Every matching id, page by page (the page size small, to cross page boundaries)."""
    found: list[str] = []
    cursor: PageCursor | None = None
    for _ in range(100):
        page = store.find_messages(where, limit=limit, after=cursor)
        found += [m.message_id for m in page.messages]
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("pagination did not end")


def test_pages_are_newest_first_and_end(filled: InboxStore) -> None:
    everything = [f"m{i:02d}" for i in reversed(range(12))]
    assert ids(filled, MessageFilter(), limit=5) == everything
    first = filled.find_messages(MessageFilter(), limit=12)
    assert [m.message_id for m in first.messages] == everything
    assert first.next_cursor is None  # exactly one page: no empty page after it


def test_equal_timestamps_are_paged_by_insertion_order(store: InboxStore) -> None:
    """Same received_at for a whole batch: the cursor's seq keeps pages disjoint and complete."""
    for i in range(7):
        assert store.add(message(f"same{i}"))
    assert ids(store, MessageFilter(), limit=3) == [f"same{i}" for i in reversed(range(7))]


def test_filters_narrow_the_listing(filled: InboxStore, clock: FakeClock) -> None:
    start = clock() - timedelta(seconds=12)
    assert ids(filled, MessageFilter(topic_arn=OTHER_TOPIC), limit=2) == [
        f"m{i:02d}" for i in (11, 9, 7, 5, 3, 1)
    ]
    assert ids(filled, MessageFilter(endpoint="/nowhere")) == []
    window = MessageFilter(
        received_after=start + timedelta(seconds=2), received_before=start + timedelta(seconds=5)
    )
    assert ids(filled, window) == ["m04", "m03", "m02"]
    _finish(filled, "m04", InboxStatus.DEAD, producer="budgets")
    assert ids(filled, MessageFilter(status=InboxStatus.DEAD)) == ["m04"]
    assert ids(filled, MessageFilter(producer="budgets")) == ["m04"]
    both = MessageFilter(status=InboxStatus.DEAD, topic_arn=OTHER_TOPIC)
    assert ids(filled, both) == []


def test_subject_search_is_literal_and_case_insensitive(filled: InboxStore) -> None:
    """% and _ are searched for, not wildcards: "0%" must not match every subject with a 0."""
    assert ids(filled, MessageFilter(subject_contains="100% OVER")) == ["m03"]
    assert ids(filled, MessageFilter(subject_contains="0%")) == ["m03"]
    assert ids(filled, MessageFilter(subject_contains="_")) == []
    assert ids(filled, MessageFilter(subject_contains="SUBJECT 1")) == ["m11", "m10", "m01"]
    assert ids(filled, MessageFilter(subject_contains="subject"), limit=4) == [
        f"m{i:02d}" for i in reversed(range(12)) if i != 3
    ]


def test_summaries_carry_what_a_listing_shows(filled: InboxStore, clock: FakeClock) -> None:
    _finish(filled, "m05", InboxStatus.DEAD, producer="cloudwatch")
    page = filled.find_messages(MessageFilter(status=InboxStatus.DEAD))
    [summary] = page.messages
    assert (summary.message_id, summary.topic_arn, summary.producer) == ("m05", OTHER_TOPIC, "cloudwatch")
    assert (summary.status, summary.attempts, summary.last_error) == (InboxStatus.DEAD, 1, "boom")
    assert summary.received_at == clock() - timedelta(seconds=7)


def test_page_limit_is_checked(store: InboxStore) -> None:
    for limit in (0, 1001):
        with pytest.raises(ValueError, match="limit"):
            store.find_messages(MessageFilter(), limit=limit)


def test_replay_matching_replays_finished_messages_only(filled: InboxStore) -> None:
    _finish(filled, "m02", InboxStatus.DEAD)
    _finish(filled, "m03", InboxStatus.DEAD)
    _finish(filled, "m04", InboxStatus.DONE)
    assert filled.replay_matching(MessageFilter(status=InboxStatus.RETRYING)) == 0
    assert filled.replay_matching(MessageFilter(status=InboxStatus.DEAD, topic_arn=TOPIC)) == 1
    assert filled.get("m02").status is InboxStatus.RECEIVED  # type: ignore[union-attr]
    assert filled.get("m03").status is InboxStatus.DEAD  # type: ignore[union-attr]
    # force forgets the replayed messages' actions, and only theirs.
    assert filled.action_succeeded("m04", "handler:/x:log")
    assert filled.replay_matching(MessageFilter(subject_contains="subject 4"), force=True) == 1
    assert not filled.action_succeeded("m04", "handler:/x:log")
    assert filled.replay_matching(MessageFilter()) == 1  # m03, the last finished one


def test_list_actions_reads_the_ledger(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("a"))
    store.add(message("b"))
    store.record_action("a", "/budgets:budget-email:alice@example.com")
    clock.advance(1)
    store.record_action("b", "handler:/budgets:budget-email")
    store.record_action("a", "handler:/budgets:budget-email")
    actions = store.list_actions(["a", "b", "a", "missing"])
    assert [(a.message_id, a.action_key) for a in actions] == [
        ("a", "/budgets:budget-email:alice@example.com"),
        ("a", "handler:/budgets:budget-email"),
        ("b", "handler:/budgets:budget-email"),
    ]
    assert actions[0].done_at == clock() - timedelta(seconds=1)
    assert store.list_actions([]) == []


def test_stats_count_per_group_and_bucket(filled: InboxStore, clock: FakeClock) -> None:
    _finish(filled, "m00", InboxStatus.DONE)
    _finish(filled, "m02", InboxStatus.DEAD)
    _finish(filled, "m01", InboxStatus.DONE)
    stats = filled.overview(until=clock(), window=timedelta(seconds=12), buckets=4, cap=5)
    assert stats.traffic == [3, 3, 3, 3]
    assert stats.totals[InboxStatus.DONE] == 2
    assert stats.totals[InboxStatus.DEAD] == 1
    assert stats.totals[InboxStatus.RETRYING] == 5  # nine put back: counted up to the cap
    groups = {g.topic_arn: g for g in stats.groups}
    assert set(groups) == {TOPIC, OTHER_TOPIC}
    budgets = groups[TOPIC]
    assert budgets.open[InboxStatus.DEAD] == 1
    assert budgets.recent == {InboxStatus.DONE: 1, InboxStatus.DEAD: 1, InboxStatus.RETRYING: 4}
    assert budgets.error_rate == 0.5
    assert budgets.last_received_at == clock() - timedelta(seconds=2)  # m10
    assert groups[OTHER_TOPIC].error_rate == 0.0
    assert stats.groups[0].topic_arn == OTHER_TOPIC  # m11 is the newest message


def test_stats_of_an_empty_inbox(store: InboxStore, clock: FakeClock) -> None:
    stats = store.overview(until=clock())
    assert stats.groups == []
    assert stats.traffic == [0] * 24
    assert set(stats.totals.values()) == {0}
