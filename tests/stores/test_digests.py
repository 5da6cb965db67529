"""Digest items, on SQLite and PostgreSQL: queued once, claimed by one sender per recipient,
sent once, released for a later try when sending failed, and taken over after a crash."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sns_subscriber.stores import InboxStore
from sns_subscriber.stores.base import DigestItem

from ..support.clock import FakeClock
from .conftest import StoreFactory


def item(recipient: str, message_id: str, clock: FakeClock, due_in: float = 0.0) -> DigestItem:
    return DigestItem(recipient=recipient, message_id=message_id, due_at=clock() + timedelta(seconds=due_in),
                      payload=f'{{"m": "{message_id}"}}')  # fmt: skip


def test_digest_item_is_queued_once_per_recipient_and_message(store: InboxStore, clock: FakeClock) -> None:
    assert store.add_digest_item(item("alice@example.com", "m1", clock)) is True
    assert store.add_digest_item(item("alice@example.com", "m1", clock)) is False  # the worker retried
    assert store.add_digest_item(item("bob@example.com", "m1", clock)) is True


def test_claim_takes_one_recipients_due_items_and_sent_items_never_come_back(
    store: InboxStore, clock: FakeClock
) -> None:
    store.add_digest_item(item("alice@example.com", "m1", clock))
    store.add_digest_item(item("bob@example.com", "m2", clock, due_in=1))
    store.add_digest_item(item("alice@example.com", "m3", clock))
    store.add_digest_item(item("alice@example.com", "later", clock, due_in=3600))
    claimed = store.claim_digest("w")
    assert [(i.recipient, i.message_id, i.payload) for i in claimed] == [
        ("alice@example.com", "m1", '{"m": "m1"}'),
        ("alice@example.com", "m3", '{"m": "m3"}'),
    ]
    assert store.claim_digest("w") == []  # Bob's is not due yet; Alice's are claimed
    assert store.finish_digest("w", [i.id for i in claimed if i.id is not None], sent=True) == 2
    clock.advance(1)
    [bob] = store.claim_digest("w")
    assert bob.message_id == "m2"
    assert store.finish_digest("w", [bob.id or 0], sent=True) == 1
    assert store.claim_digest("w") == []
    # "Send now" takes what is due later too, but never what was sent.
    [later] = store.claim_digest("w", due_by=clock() + timedelta(days=8))
    assert later.message_id == "later"


def test_failed_send_releases_the_items_and_a_crashed_senders_claim_expires(
    store: InboxStore, clock: FakeClock
) -> None:
    store.add_digest_item(item("alice@example.com", "m1", clock))
    [first] = store.claim_digest("w1", lease_seconds=60)
    assert store.finish_digest("w1", [first.id or 0], sent=False) == 1  # SMTP refused: try later
    [again] = store.claim_digest("w2", lease_seconds=60)
    assert again.id == first.id
    # w2 crashes without finishing: nobody else gets the items until its lease runs out.
    assert store.claim_digest("w3") == []
    clock.advance(61)
    [taken] = store.claim_digest("w3")
    assert taken.id == first.id
    assert store.finish_digest("w2", [first.id or 0], sent=True) == 0  # w2 lost its claim
    assert store.finish_digest("w3", [first.id or 0], sent=True) == 1


def test_concurrent_senders_never_share_or_split_a_digest(make_store: StoreFactory, clock: FakeClock) -> None:
    store = make_store()
    for n in range(30):
        store.add_digest_item(item(f"owner{n % 5}@example.com", f"m{n}", clock))
    stores = [make_store() for _ in range(4)]

    def drain(index: int) -> list[list[DigestItem]]:
        batches = []
        while batch := stores[index].claim_digest(f"w{index}"):
            batches.append(batch)
            stores[index].finish_digest(f"w{index}", [i.id or 0 for i in batch], sent=True)
        return batches

    with ThreadPoolExecutor(4) as pool:
        batches = [batch for result in pool.map(drain, range(4)) for batch in result]
    assert sorted(batch[0].recipient for batch in batches) == [f"owner{n}@example.com" for n in range(5)]
    assert all(len({i.recipient for i in batch}) == 1 and len(batch) == 6 for batch in batches)
    for extra in stores:
        extra.close()
