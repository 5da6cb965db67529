"""Rejections (messages a queue poller refused and left in their queue): part of the store
contract, on SQLite and PostgreSQL; bounded whatever senders put in a queue."""

from __future__ import annotations

import pytest

from sns_subscriber.stores import InboxStore, Rejection

from ..support.clock import FakeClock


def test_rejections_are_listed_newest_first(store: InboxStore, clock: FakeClock) -> None:
    first_at = clock()
    store.record_rejection(Rejection(source="sqs:q", message_id="m-1", reason="malformed: not JSON"))
    clock.advance(5)
    store.record_rejection(Rejection(source="sqs:q", message_id="m-2", reason="invalid_signature: bad"))
    second, first = store.list_rejections()
    assert (second.message_id, second.reason, second.source) == ("m-2", "invalid_signature: bad", "sqs:q")
    assert (first.message_id, first.created_at, second.created_at) == ("m-1", first_at, clock())
    assert second.id > first.id
    assert [r.message_id for r in store.list_rejections(limit=1)] == ["m-2"]


def test_rejections_are_bounded_so_a_flood_cannot_grow_the_table(
    store: InboxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone allowed to send to a queue can send endless garbage; only the newest
    MAX_REJECTIONS rows are kept."""
    from sns_subscriber.stores import postgres, sqlite

    monkeypatch.setattr(sqlite, "MAX_REJECTIONS", 3)
    monkeypatch.setattr(postgres, "MAX_REJECTIONS", 3)
    for i in range(7):
        store.record_rejection(Rejection(source="sqs:q", message_id=f"m-{i}", reason="malformed"))
    assert [r.message_id for r in store.list_rejections(limit=100)] == ["m-6", "m-5", "m-4"]


def test_hostile_text_in_a_rejection_is_storable(store: InboxStore) -> None:
    """NUL and lone surrogates come from the queue body; no driver may choke on them."""
    store.record_rejection(Rejection(source="sqs:q", message_id="m\x00\ud800", reason="x" * 5000 + "\x00"))
    [record] = store.list_rejections()
    assert "\x00" not in record.message_id + record.reason
    assert len(record.reason) == 1000
