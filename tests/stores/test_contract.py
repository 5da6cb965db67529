"""The InboxStore contract, run against every store (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, timedelta

import pytest

from sns_subscriber.exceptions import StoreUnavailableError
from sns_subscriber.stores import (
    InboxStatus,
    InboxStore,
    SubscriptionEvent,
    SubscriptionRecord,
    SubscriptionState,
)
from sns_subscriber.stores.base import SCHEMA_VERSION

from ..support.clock import FakeClock
from ..support.stores import TOPIC, message
from .conftest import StoreFactory


def _fill(store: InboxStore, clock: FakeClock, count: int, prefix: str = "m") -> list[str]:
    """Store ``count`` messages one second apart; return their ids, oldest first."""
    ids = [f"{prefix}{i:03d}" for i in range(count)]
    for message_id in ids:
        assert store.add(message(message_id))
        clock.advance(1)
    return ids


# -- receiving ----------------------------------------------------------------------------


def test_a_store_is_an_inbox_store(store: InboxStore) -> None:
    assert isinstance(store, InboxStore)


def test_add_stores_once_and_reports_duplicates(store: InboxStore, clock: FakeClock) -> None:
    assert store.add(message("a")) is True
    assert store.add(message("a", subject="a redelivery")) is False

    record = store.get("a")
    assert record is not None
    assert record.subject == "subject of a"  # the first delivery wins
    assert record.status is InboxStatus.RECEIVED
    assert record.attempts == 0
    assert record.received_at == record.updated_at == clock()
    assert record.next_attempt_at is None and record.lease_owner is None and record.lease_until is None
    assert store.counts()[InboxStatus.RECEIVED] == 1


def test_every_field_round_trips(store: InboxStore, clock: FakeClock) -> None:
    body = bytes(range(256)) * 4  # any bytes, NUL and invalid UTF-8 included
    assert store.add(
        message(
            "raw-1", endpoint="/raw", message_type="Notification", subject=None, body=body, raw_delivery=True
        )
    )
    record = store.get("raw-1")
    assert record is not None
    assert (record.endpoint, record.topic_arn, record.subject, record.body, record.raw_delivery) == (
        "/raw",
        TOPIC,
        None,
        body,
        True,
    )
    assert record.received_at.tzinfo is not None and record.received_at.utcoffset() == timedelta(0)
    assert store.get("missing") is None


def test_duplicates_in_one_batch_resolve_true_then_false(store: InboxStore) -> None:
    futures = [store.submit(message("same")) for _ in range(5)]
    assert [future.result(timeout=10) for future in futures] == [True, False, False, False, False]


def test_async_submits_resolve_on_the_loop_after_commit(store: InboxStore) -> None:
    async def main() -> list[bool]:
        return list(await asyncio.gather(*(store.submit_async(message(m)) for m in ("a1", "a2", "a1"))))

    assert asyncio.run(main()) == [True, True, False]
    assert store.get("a1") is not None and store.get("a2") is not None


def test_concurrent_overlapping_submits_store_each_id_once(make_store: StoreFactory) -> None:
    # All 1,280 submissions may wait at once: room for them, so this tests dedupe, not the bound.
    store = make_store(max_pending=32 * 40)
    ids = [f"id-{i}" for i in range(60)]
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()
    start = threading.Barrier(32)

    def submitter(seed: int) -> None:
        mine = random.Random(seed).sample(ids, k=40)
        start.wait()
        futures = [(message_id, store.submit(message(message_id))) for message_id in mine]
        outcome = [(message_id, future.result(timeout=30)) for message_id, future in futures]
        with lock:
            results.extend(outcome)

    threads = [threading.Thread(target=submitter, args=(seed,)) for seed in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 32 * 40
    inserted = Counter(message_id for message_id, was_new in results if was_new)
    submitted = {message_id for message_id, _ in results}
    assert inserted == Counter(dict.fromkeys(submitted, 1))
    assert sum(store.counts().values()) == len(submitted)


def test_a_resolved_future_means_committed(make_store: StoreFactory) -> None:
    writer = make_store()
    reader = make_store()  # its own connections, like another process
    futures = [writer.submit(message(f"d{i}")) for i in range(20)]
    for i, future in enumerate(futures):
        assert future.result(timeout=10)
        assert reader.get(f"d{i}") is not None


def test_close_commits_what_was_submitted(make_store: StoreFactory) -> None:
    store = make_store()
    futures = [store.submit(message(f"c{i}")) for i in range(50)]
    store.close()
    assert all(future.result(timeout=0) for future in futures)
    store.close()  # idempotent
    assert sum(make_store().counts().values()) == 50


def test_a_closed_store_refuses_new_messages(make_store: StoreFactory) -> None:
    store = make_store()
    store.close()
    with pytest.raises(StoreUnavailableError):
        store.add(message("late"))


def test_unstorable_text(store: InboxStore) -> None:
    # Valid JSON escapes in an attacker's Subject must not fail the batch it shares.
    assert store.add(message("nul", subject="a\x00b\ud800c"))
    record = store.get("nul")
    assert record is not None and record.subject == "a\ufffdb?c"
    with pytest.raises(ValueError, match="message_id"):
        store.submit(message("bad\x00id"))
    with pytest.raises(ValueError, match="topic_arn"):
        store.submit(message("ok", topic_arn=""))


# -- claiming and finishing ------------------------------------------------------------------


def test_claim_takes_the_oldest_first_and_leases_them(store: InboxStore, clock: FakeClock) -> None:
    ids = _fill(store, clock, 5)
    first = store.claim("w1", limit=2, lease_seconds=30)
    assert [r.message_id for r in first] == ids[:2]
    for record in first:
        assert record.status is InboxStatus.PROCESSING
        assert record.attempts == 1
        assert record.lease_owner == "w1"
        assert record.lease_until == clock() + timedelta(seconds=30)
        assert store.get(record.message_id) == record
    assert [r.message_id for r in store.claim("w2", limit=10)] == ids[2:]
    assert store.claim("w3") == []
    assert store.claim("w3", limit=0) == []
    counts = store.counts()
    assert counts[InboxStatus.PROCESSING] == 5
    assert set(counts) == set(InboxStatus)


def test_equal_timestamps_claim_in_arrival_order(store: InboxStore) -> None:
    ids = [f"t{i}" for i in range(12)]
    for message_id in ids:  # the fake clock does not move: ties everywhere
        store.add(message(message_id))
    assert [r.message_id for r in store.claim("w", limit=12)] == ids


def test_concurrent_claims_never_share(store: InboxStore, clock: FakeClock) -> None:
    futures = [store.submit(message(f"x{i:03d}")) for i in range(120)]
    assert all(f.result(timeout=30) for f in futures)
    start = threading.Barrier(8)

    def worker(name: str) -> list[str]:
        start.wait()
        mine: list[str] = []
        while records := store.claim(name, limit=3):
            mine += [r.message_id for r in records]
        return mine

    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(worker, [f"w{i}" for i in range(8)]))
    everything = [message_id for mine in claimed for message_id in mine]
    assert len(everything) == len(set(everything)) == 120
    assert all(r.attempts == 1 for r in store.list_messages(limit=200))


def test_an_expired_lease_is_claimed_again(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("crash"))
    [first] = store.claim("dead-worker", lease_seconds=60)
    assert first.lease_until == clock() + timedelta(seconds=60)
    clock.advance(59)
    assert store.claim("w2") == []
    clock.advance(1)
    [again] = store.claim("w2", lease_seconds=60)
    assert again.message_id == "crash"
    assert (again.lease_owner, again.attempts) == ("w2", 2)
    # The crashed worker comes back: it no longer holds the message.
    assert store.complete("crash", "dead-worker") is False
    assert store.complete("crash", "w2") is True
    record = store.get("crash")
    assert record is not None and record.status is InboxStatus.DONE


def test_retry_waits_until_due(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("flaky"))
    store.claim("w")
    assert store.retry("flaky", "w", error="timeout talking to SMTP", delay_seconds=30) is True
    record = store.get("flaky")
    assert record is not None
    assert record.status is InboxStatus.RETRYING
    assert record.next_attempt_at == clock() + timedelta(seconds=30)
    assert record.last_error == "timeout talking to SMTP"
    assert record.lease_owner is None and record.lease_until is None
    assert store.claim("w") == []
    clock.advance(29.5)
    assert store.claim("w") == []
    clock.advance(0.5)
    [again] = store.claim("w")
    assert (again.message_id, again.attempts, again.next_attempt_at) == ("flaky", 2, None)
    assert store.complete("flaky", "w")
    done = store.get("flaky")
    assert done is not None and done.status is InboxStatus.DONE
    assert done.last_error == "timeout talking to SMTP"  # kept as history


def test_only_the_lease_holder_finishes(store: InboxStore) -> None:
    store.add(message("m"))
    assert store.complete("m", "w1") is False  # not claimed yet
    store.claim("w1")
    assert store.complete("m", "w2") is False
    assert store.retry("m", "w2", error="e", delay_seconds=1) is False
    assert store.fail("m", "w2", error="e") is False
    assert store.complete("missing", "w1") is False
    record = store.get("m")
    assert record is not None and record.status is InboxStatus.PROCESSING
    assert store.fail("m", "w1", error="poison message") is True
    assert store.complete("m", "w1") is False  # finished already
    dead = store.get("m")
    assert dead is not None
    assert (dead.status, dead.last_error, dead.lease_owner) == (InboxStatus.DEAD, "poison message", None)


# -- administration ------------------------------------------------------------------------------


def test_replay_one_message(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("m"))
    assert store.replay("m") is False  # received: nothing to replay
    store.claim("w")
    assert store.replay("m") is False  # processing
    store.fail("m", "w", error="boom")
    clock.advance(5)
    assert store.replay("m") is True
    record = store.get("m")
    assert record is not None
    assert (
        record.status,
        record.attempts,
        record.next_attempt_at,
        record.lease_owner,
        record.lease_until,
    ) == (
        InboxStatus.RECEIVED,
        0,
        None,
        None,
        None,
    )
    assert record.updated_at == clock()
    assert [r.message_id for r in store.claim("w")] == ["m"]
    assert store.replay("missing") is False


def test_replay_status(store: InboxStore, clock: FakeClock) -> None:
    ids = _fill(store, clock, 6)
    store.claim("w", limit=6)
    for message_id in ids[:2]:
        store.complete(message_id, "w")
    for message_id in ids[2:5]:
        store.fail(message_id, "w", error="x")
    assert store.replay_status(InboxStatus.PROCESSING) == 0
    assert store.replay_status(InboxStatus.DEAD) == 3
    assert store.replay_status(InboxStatus.DEAD) == 0
    counts = store.counts()
    assert (counts[InboxStatus.RECEIVED], counts[InboxStatus.DONE], counts[InboxStatus.PROCESSING]) == (
        3,
        2,
        1,
    )
    assert store.replay_status(InboxStatus.DONE) == 2


def test_purge_removes_old_finished_messages_and_their_actions(store: InboxStore, clock: FakeClock) -> None:
    ids = _fill(store, clock, 5)
    store.claim("w", limit=5)
    store.complete(ids[0], "w")
    store.fail(ids[1], "w", error="x")
    store.record_action(ids[0], "email:owner")
    clock.advance(3600)
    cutoff = clock()
    clock.advance(1)
    store.complete(ids[2], "w")  # finished after the cutoff: kept
    store.retry(ids[3], "w", error="x", delay_seconds=0)  # not finished: kept whatever its age
    assert store.purge(older_than=cutoff) == 2
    assert store.get(ids[0]) is None and store.get(ids[1]) is None
    assert store.action_succeeded(ids[0], "email:owner") is False
    assert {r.message_id for r in store.list_messages()} == set(ids[2:])
    assert store.purge(older_than=cutoff) == 0


def test_list_is_newest_first_with_optional_status(store: InboxStore, clock: FakeClock) -> None:
    ids = _fill(store, clock, 6)
    assert [r.message_id for r in store.list_messages()] == ids[::-1]
    assert [r.message_id for r in store.list_messages(limit=2)] == ids[:-3:-1]
    assert store.list_messages(limit=0) == []
    store.claim("w", limit=3)
    assert [r.message_id for r in store.list_messages(status=InboxStatus.PROCESSING)] == ids[2::-1]
    assert [r.message_id for r in store.list_messages(status=InboxStatus.RECEIVED, limit=2)] == ids[:2:-1][:2]
    assert store.list_messages(status=InboxStatus.DEAD) == []


def test_counts_has_every_status(store: InboxStore) -> None:
    assert store.counts() == dict.fromkeys(InboxStatus, 0)


# -- action ledger ---------------------------------------------------------------------------------


def test_action_ledger(store: InboxStore) -> None:
    assert store.action_succeeded("m", "email:alice") is False
    store.record_action("m", "email:alice")
    store.record_action("m", "email:alice")  # idempotent
    store.record_action("m", "handler:audit")
    store.record_action("other", "email:alice")
    assert store.action_succeeded("m", "email:alice") is True
    assert store.action_succeeded("m", "email:bob") is False
    assert store.forget_actions("m") == 2
    assert store.action_succeeded("m", "email:alice") is False
    assert store.action_succeeded("other", "email:alice") is True
    assert store.forget_actions("m") == 0


# -- subscriptions ----------------------------------------------------------------------------------


def test_subscription_history(store: InboxStore, clock: FakeClock) -> None:
    pending = store.record_subscription(
        SubscriptionEvent(
            topic_arn=TOPIC,
            endpoint="/budget-subscriber",
            state=SubscriptionState.PENDING,
            message_id="sub-1",
            token="t0k3n",
            subscribe_url="https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        )
    )
    clock.advance(1)
    confirmed = store.record_subscription(
        SubscriptionEvent(
            topic_arn=TOPIC,
            endpoint="/budget-subscriber",
            state=SubscriptionState.CONFIRMED,
            message_id="sub-1",
            subscription_arn=f"{TOPIC}:0b1c",
            detail="confirmed through the API",
        )
    )
    assert isinstance(pending, SubscriptionRecord)
    assert confirmed.id > pending.id
    assert (pending.created_at, confirmed.created_at) == (clock() - timedelta(seconds=1), clock())
    assert confirmed.created_at.tzinfo is UTC or confirmed.created_at.utcoffset() == timedelta(0)
    assert store.list_subscriptions() == [confirmed, pending]
    assert store.get_subscription(pending.id) == pending
    assert store.get_subscription(confirmed.id + 1000) is None


def test_subscription_lookups_for_replays(store: InboxStore) -> None:
    def event(
        state: SubscriptionState, message_id: str, endpoint: str = "/budget-subscriber"
    ) -> SubscriptionRecord:
        return store.record_subscription(
            SubscriptionEvent(topic_arn=TOPIC, endpoint=endpoint, state=state, message_id=message_id)
        )

    assert store.latest_subscription_event("sub-1") is None
    assert store.confirmed_subscription(TOPIC, "/budget-subscriber") is None
    event(SubscriptionState.FAILED, "sub-1")
    confirmed = event(SubscriptionState.CONFIRMED, "sub-1")
    event(SubscriptionState.PENDING, "sub-2")
    assert store.latest_subscription_event("sub-1") == confirmed
    assert (
        store.confirmed_subscription(TOPIC, "/budget-subscriber") == confirmed
    )  # a pending one does not count
    assert store.confirmed_subscription(TOPIC, "/other") is None
    assert store.confirmed_subscription(TOPIC.replace("budgets", "other"), "/budget-subscriber") is None
    event(SubscriptionState.UNSUBSCRIBED, "sub-3")
    assert store.confirmed_subscription(TOPIC, "/budget-subscriber") is None
    again = event(SubscriptionState.CONFIRMED, "sub-4")
    assert store.confirmed_subscription(TOPIC, "/budget-subscriber") == again


# -- schema and health -------------------------------------------------------------------------------


def test_migrate_is_versioned_and_idempotent(store: InboxStore) -> None:
    store.add(message("kept"))
    assert store.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
    store.migrate()
    store.migrate()
    assert store.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
    assert store.get("kept") is not None


def test_processes_starting_together_migrate_once(make_store: StoreFactory) -> None:
    start = threading.Barrier(4)

    def opener() -> InboxStore:
        start.wait()
        return make_store()

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: opener(), range(4)))
    for i, opened in enumerate(stores):
        assert opened.add(message(f"from-{i}"))
    assert sum(stores[0].counts().values()) == 4


def test_ping(store: InboxStore) -> None:
    store.ping()


def test_submit_returns_a_future(store: InboxStore) -> None:
    future = store.submit(message("f"))
    assert isinstance(future, Future)
    assert future.result(timeout=10) is True


def test_complete_records_actions_in_the_same_transaction(store: InboxStore) -> None:
    assert store.add(message("ca"))
    [claimed] = store.claim("w1", limit=1)
    assert store.complete(claimed.message_id, "w1", actions=["handler:email", "handler:webhook"])
    record = store.get("ca")
    assert record is not None and record.status == InboxStatus.DONE
    assert store.action_succeeded("ca", "handler:email")
    assert store.action_succeeded("ca", "handler:webhook")


def test_complete_records_actions_even_when_the_lease_was_lost(store: InboxStore) -> None:
    assert store.add(message("cl"))
    store.claim("w1", limit=1)
    # Another worker holds it now: the completion is refused, the action stays recorded so
    # that whoever runs the message next does not repeat it.
    assert not store.complete("cl", "someone-else", actions=["handler:email"])
    assert store.action_succeeded("cl", "handler:email")
    record = store.get("cl")
    assert record is not None and record.status == InboxStatus.PROCESSING


def test_defer_gives_the_attempt_back(store: InboxStore, clock: FakeClock) -> None:
    """A destination's "429, come back later" is not a failure: it must not bring a message
    closer to dead, however often it happens."""
    store.add(message("rate-limited"))
    for _ in range(5):
        [claimed] = store.claim("w")
        assert claimed.attempts == 1
        assert store.defer("rate-limited", "w", reason="HTTP 429, Retry-After 2", delay_seconds=2) is True
        record = store.get("rate-limited")
        assert record is not None
        assert (record.status, record.attempts) == (InboxStatus.RETRYING, 0)
        assert record.next_attempt_at == clock() + timedelta(seconds=2)
        assert record.last_error == "HTTP 429, Retry-After 2"
        assert store.claim("w") == []
        clock.advance(2)
    assert store.defer("rate-limited", "other", reason="x", delay_seconds=1) is False  # not claimed
