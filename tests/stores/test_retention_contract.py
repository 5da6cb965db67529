"""Retention operations of the InboxStore contract, on SQLite and PostgreSQL: batched purge with
tombstones, stats, the oldest unclaimed message, the database size."""

from __future__ import annotations

from datetime import timedelta

from sns_subscriber.retention import RetentionPolicy, TombstoneWindow, purge
from sns_subscriber.stores import InboxStatus, InboxStore
from sns_subscriber.verification import VerificationPolicy

from ..support.clock import FakeClock
from ..support.stores import message

WORKER = "w1"


def _settle(store: InboxStore, *, done: tuple[str, ...] = (), dead: tuple[str, ...] = ()) -> None:
    """Claim everything claimable; finish ``done`` and ``dead`` (the rest stays processing)."""
    claimed = {record.message_id for record in store.claim(WORKER, limit=1000)}
    assert {*done, *dead} <= claimed
    for message_id in done:
        assert store.complete(message_id, WORKER, actions=["handler:x"])
    for message_id in dead:
        assert store.fail(message_id, WORKER, error="boom")


def test_purge_batch_deletes_only_what_the_cutoffs_allow(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("old-done"))
    store.add(message("old-dead"))
    store.add(message("old-confirmation", message_type="SubscriptionConfirmation"))
    _settle(store, done=("old-done", "old-confirmation"), dead=("old-dead",))
    clock.advance(days=3)
    store.add(message("young-done"))
    store.add(message("waiting"))  # received, never finished: never purged
    store.claim(WORKER, limit=1)  # "young-done"; "waiting" stays received
    assert store.complete("young-done", WORKER)
    clock.advance(hours=2)
    window = TombstoneWindow()  # 1 h 10 min for Notifications, 2 days 10 min for confirmations
    now = clock()
    cutoffs = window.cutoffs(now, done_before=now, dead_before=now - timedelta(days=30))
    assert store.purge_batch(cutoffs, limit=100) == 3  # old-done, old-confirmation, young-done
    assert store.get("old-done") is None and store.get("young-done") is None
    assert store.get("old-confirmation") is None
    assert store.get("old-dead") is not None  # dead kept 30 days
    assert store.get("waiting") is not None
    assert not store.action_succeeded("old-done", "handler:x")  # the ledger went with the row


def test_tombstones_outlive_any_requested_age(store: InboxStore, clock: FakeClock) -> None:
    """A purge asking for age 0 keeps MessageIds a verifier would still accept a copy of."""
    store.add(message("n1"))
    store.add(message("c1", message_type="SubscriptionConfirmation"))
    _settle(store, done=("n1", "c1"))
    window = TombstoneWindow.for_policy(VerificationPolicy(allowed_topic_arns=("arn:aws:sns:eu-west-1:1:t",)))
    clock.advance(minutes=69)
    now = clock()
    assert store.purge_batch(window.cutoffs(now, done_before=now, dead_before=now)) == 0
    clock.advance(minutes=2)  # past 1 h + 2 x 5 min: a copy of n1 would be refused as too old
    now = clock()
    assert store.purge_batch(window.cutoffs(now, done_before=now, dead_before=now)) == 1
    assert store.get("n1") is None and store.get("c1") is not None
    clock.advance(days=2)
    now = clock()
    assert store.purge_batch(window.cutoffs(now, done_before=now, dead_before=now)) == 1
    assert store.get("c1") is None


def test_purge_goes_in_batches_of_the_given_size(store: InboxStore, clock: FakeClock) -> None:
    ids = [f"m{i:02d}" for i in range(23)]
    for message_id in ids:
        store.add(message(message_id))
    _settle(store, done=tuple(ids))
    clock.advance(days=31)
    batches: list[int] = []
    deleted = purge(
        store, RetentionPolicy().cutoffs(clock()), batch_size=10, pause_seconds=0, on_batch=batches.append
    )
    assert deleted == 23
    assert batches == [10, 10, 3]
    assert sum(store.counts().values()) == 0


def test_retention_policy_keeps_dead_longer_and_zero_days_means_forever(
    store: InboxStore, clock: FakeClock
) -> None:
    store.add(message("done"))
    store.add(message("dead"))
    _settle(store, done=("done",), dead=("dead",))
    clock.advance(days=31)
    assert purge(store, RetentionPolicy(done_days=None).cutoffs(clock())) == 0
    assert purge(store, RetentionPolicy().cutoffs(clock())) == 1
    assert store.get("dead") is not None
    clock.advance(days=60)
    assert purge(store, RetentionPolicy().cutoffs(clock())) == 1
    assert sum(store.counts().values()) == 0


def test_stats_counts_oldest_and_size(store: InboxStore, clock: FakeClock) -> None:
    empty = store.stats()
    assert empty.counts == dict.fromkeys(InboxStatus, 0)
    assert all(value is None for value in empty.oldest.values())
    first = clock()
    store.add(message("a"))
    clock.advance(10)
    store.add(message("b"))
    store.add(message("c"))
    _settle(store, done=("c",))
    stats = store.stats()
    assert stats.counts[InboxStatus.DONE] == 1
    assert stats.counts[InboxStatus.PROCESSING] == 2  # a and b were claimed with c
    assert stats.oldest[InboxStatus.PROCESSING] == first
    assert stats.oldest[InboxStatus.DONE] == first + timedelta(seconds=10)
    assert stats.database_bytes > 0
    assert store.database_bytes() > 0


def test_oldest_unclaimed_is_the_oldest_received_message(store: InboxStore, clock: FakeClock) -> None:
    assert store.oldest_unclaimed() is None
    first = clock()
    store.add(message("a"))
    clock.advance(5)
    store.add(message("b"))
    assert store.oldest_unclaimed() == first
    store.claim(WORKER, limit=1)
    assert store.oldest_unclaimed() == first + timedelta(seconds=5)
    store.claim(WORKER, limit=1)
    assert store.oldest_unclaimed() is None


def test_default_confirmation_window_matches_the_verification_policy() -> None:
    policy = VerificationPolicy(allowed_topic_arns=("arn:aws:sns:eu-west-1:123456789012:t",))
    assert TombstoneWindow() == TombstoneWindow.for_policy(policy)
