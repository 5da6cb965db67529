"""The inbox contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from sns_subscriber.stores import InboxStatus, InboxStore, SubscriptionEvent, SubscriptionState

from .conftest import Clock, StoreFactory, new_message


def test_insert_then_duplicate(store: InboxStore) -> None:
    item = new_message("m-1", body=b"\x00binary\xff")
    assert store.add(item) is True
    assert store.add(item) is False
    record = store.get("m-1")
    assert record is not None
    assert (record.status, record.attempts, record.body, record.raw_delivery) == (
        InboxStatus.RECEIVED,
        0,
        b"\x00binary\xff",
        False,
    )
    assert store.counts()[InboxStatus.RECEIVED] == 1
    assert set(store.counts()) == set(InboxStatus)


def test_concurrent_overlapping_submits_store_each_id_once(store: InboxStore) -> None:
    ids = [f"m-{i}" for i in range(50)]
    barrier = threading.Barrier(32)

    def worker(offset: int) -> list[tuple[str, bool]]:
        barrier.wait()
        mine = ids[offset % 10 :] + ids[: offset % 10]
        futures = [(mid, store.submit(new_message(mid))) for mid in mine]
        return [(mid, f.result(timeout=30)) for mid, f in futures]

    with ThreadPoolExecutor(32) as pool:
        results = [r for rs in pool.map(worker, range(32)) for r in rs]
    inserted = Counter(mid for mid, ok in results if ok)
    assert inserted == Counter(ids)  # exactly one True per id
    assert store.counts()[InboxStatus.RECEIVED] == 50


def test_duplicates_inside_one_batch(store: InboxStore) -> None:
    futures = [store.submit(new_message("same")) for _ in range(20)]
    assert sorted(f.result(timeout=10) for f in futures) == [False] * 19 + [True]


def test_durable_when_future_resolves(store_factory: StoreFactory) -> None:
    writer = store_factory()
    assert writer.add(new_message("durable")) is True
    reader = store_factory()  # a second, independent connection (another process would see the same)
    assert reader.get("durable") is not None


def test_claim_complete(store: InboxStore) -> None:
    store.add(new_message("a"))
    store.add(new_message("b"))
    claimed = store.claim("w1", limit=10, lease_seconds=60)
    assert [r.message_id for r in claimed] == ["a", "b"]
    assert all(
        r.status == InboxStatus.PROCESSING and r.attempts == 1 and r.lease_owner == "w1" for r in claimed
    )
    assert store.claim("w2") == []
    assert store.complete("a", "w2") is False  # not the lease holder
    assert store.complete("a", "w1") is True
    record = store.get("a")
    assert record is not None
    assert (record.status, record.lease_owner) == (InboxStatus.DONE, None)


def test_concurrent_claims_never_share(store: InboxStore) -> None:
    for i in range(60):
        store.add(new_message(f"c-{i}"))
    barrier = threading.Barrier(6)

    def claimer(n: int) -> list[str]:
        barrier.wait()
        got: list[str] = []
        while batch := store.claim(f"w{n}", limit=3):
            got += [r.message_id for r in batch]
        return got

    with ThreadPoolExecutor(6) as pool:
        all_claimed = [m for ms in pool.map(claimer, range(6)) for m in ms]
    assert sorted(all_claimed) == sorted(f"c-{i}" for i in range(60))


def test_expired_lease_is_reclaimed(store: InboxStore, clock: Clock) -> None:
    store.add(new_message("crash"))
    assert len(store.claim("dead-worker", lease_seconds=30)) == 1
    clock.advance(10)
    assert store.claim("w2") == []
    clock.advance(25)
    [again] = store.claim("w2", lease_seconds=30)
    assert (again.message_id, again.attempts, again.lease_owner) == ("crash", 2, "w2")
    assert store.complete("crash", "dead-worker") is False
    assert store.complete("crash", "w2") is True


def test_retry_waits_until_due(store: InboxStore, clock: Clock) -> None:
    store.add(new_message("r"))
    store.claim("w")
    assert store.retry("r", "w", error="boom", delay_seconds=60) is True
    record = store.get("r")
    assert record is not None
    assert (record.status, record.last_error) == (InboxStatus.RETRYING, "boom")
    assert store.claim("w") == []
    clock.advance(61)
    [again] = store.claim("w")
    assert again.attempts == 2


def test_fail_then_replay(store: InboxStore) -> None:
    store.add(new_message("d"))
    store.claim("w")
    assert store.fail("d", "w", error="gave up") is True
    assert store.counts()[InboxStatus.DEAD] == 1
    assert store.replay("d") is True
    assert store.replay("d") is False  # received now, not done/dead
    assert [r.message_id for r in store.claim("w")] == ["d"]


def test_replay_status_and_purge(store: InboxStore, clock: Clock) -> None:
    for name in ("p1", "p2", "p3"):
        store.add(new_message(name))
    for record in store.claim("w"):
        store.complete(record.message_id, "w")
    assert store.replay_status(InboxStatus.RECEIVED) == 0
    assert store.replay_status(InboxStatus.DONE) == 3
    for record in store.claim("w"):
        store.complete(record.message_id, "w")
    store.record_action("p1", "email:a")
    clock.advance(86400 * 10)
    store.add(new_message("fresh"))
    assert store.purge(older_than=clock.now - __import__("datetime").timedelta(days=1)) == 3
    assert store.get("p1") is None
    assert store.get("fresh") is not None
    assert store.action_succeeded("p1", "email:a") is False


def test_list_order_and_filter(store: InboxStore, clock: Clock) -> None:
    for name in ("l1", "l2", "l3"):
        store.add(new_message(name))
        clock.advance(1)
    assert [r.message_id for r in store.list()] == ["l3", "l2", "l1"]
    assert [r.message_id for r in store.list(limit=2)] == ["l3", "l2"]
    store.claim("w", limit=1)
    assert [r.message_id for r in store.list(status=InboxStatus.PROCESSING)] == ["l1"]


def test_action_ledger(store: InboxStore) -> None:
    assert store.action_succeeded("m", "k") is False
    store.record_action("m", "k")
    store.record_action("m", "k")  # idempotent
    assert store.action_succeeded("m", "k") is True
    assert store.action_succeeded("m", "other") is False
    assert store.forget_actions("m") == 1
    assert store.action_succeeded("m", "k") is False


def test_subscriptions_history(store: InboxStore) -> None:
    first = store.record_subscription(
        SubscriptionEvent(
            topic_arn="arn:aws:sns:us-east-1:123456789012:t",
            endpoint="/sns",
            state=SubscriptionState.PENDING,
            message_id="s1",
            token="tok",
            subscribe_url="https://sns.us-east-1.amazonaws.com/?x",
        )
    )
    second = store.record_subscription(
        SubscriptionEvent(
            topic_arn=first.topic_arn,
            endpoint="/sns",
            state=SubscriptionState.CONFIRMED,
            message_id="s1",
            subscription_arn="arn:sub",
        )
    )
    assert second.id > first.id
    assert [r.state for r in store.list_subscriptions()] == [
        SubscriptionState.CONFIRMED,
        SubscriptionState.PENDING,
    ]
    fetched = store.get_subscription(first.id)
    assert fetched is not None
    assert (fetched.token, fetched.subscribe_url) == ("tok", "https://sns.us-east-1.amazonaws.com/?x")
    assert store.get_subscription(99999) is None


def test_migrate_twice_is_a_no_op(store: InboxStore) -> None:
    store.add(new_message("keep"))
    store.migrate()
    store.migrate()
    assert store.get("keep") is not None
    assert store.schema_version() == 1  # type: ignore[attr-defined]


def test_closed_store_refuses(store_factory: StoreFactory) -> None:
    from sns_subscriber.exceptions import StoreUnavailableError

    store = store_factory()
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreUnavailableError):
        store.add(new_message())
