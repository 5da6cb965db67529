"""Statuses ``test`` and ``stale``, the per-alarm state record, and the migration that adds them,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

import sns_subscriber.stores.postgres as postgres_module
import sns_subscriber.stores.sqlite as sqlite_module
from sns_subscriber.retention import RetentionPolicy, purge
from sns_subscriber.stores import InboxStatus, InboxStore, open_store
from sns_subscriber.stores.base import SCHEMA_VERSION

from ..support.clock import FakeClock
from ..support.stores import message
from .conftest import StoreFactory

ALARM = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:high-cpu"


def test_set_aside_records_test_and_stale_with_the_reason(store: InboxStore) -> None:
    store.add(message("t"))
    store.add(message("s"))
    store.claim("w", limit=2)
    assert store.set_aside("t", "w", status=InboxStatus.TEST, reason="test event: S3")
    assert store.set_aside("s", "w", status=InboxStatus.STALE, reason="stale: older")
    assert not store.set_aside("t", "w", status=InboxStatus.TEST, reason="again")  # no longer held
    test, stale = store.get("t"), store.get("s")
    assert test is not None and test.status is InboxStatus.TEST and test.last_error == "test event: S3"
    assert stale is not None and stale.status is InboxStatus.STALE
    assert store.claim("w2", limit=10) == []  # never retried
    assert store.counts()[InboxStatus.TEST] == 1


def test_set_aside_takes_only_test_or_stale(store: InboxStore) -> None:
    store.add(message("m"))
    store.claim("w", limit=1)
    with pytest.raises(ValueError, match="test or stale"):
        store.set_aside("m", "w", status=InboxStatus.DONE, reason="x")


def test_retention_purges_test_and_stale_like_done(store: InboxStore, clock: FakeClock) -> None:
    store.add(message("t"))
    store.claim("w", limit=1)
    store.set_aside("t", "w", status=InboxStatus.TEST, reason="test event")
    clock.advance(days=31)
    assert purge(store, RetentionPolicy().cutoffs(clock())) == 1


def test_alarm_states_refuse_an_older_change(store: InboxStore, clock: FakeClock) -> None:
    t0 = clock()
    first = store.record_alarm_state(ALARM, state="ALARM", changed_at=t0, message_id="m1")
    assert not first.stale and first.previous_state is None
    newer = store.record_alarm_state(ALARM, state="OK", changed_at=t0 + timedelta(minutes=5), message_id="m2")
    assert not newer.stale and newer.previous_state == "ALARM"
    late = store.record_alarm_state(
        ALARM, state="ALARM", changed_at=t0 + timedelta(minutes=1), message_id="m3"
    )
    assert late.stale and late.previous_state == "OK"
    again = store.record_alarm_state(ALARM, state="OK", changed_at=t0 + timedelta(minutes=5), message_id="m2")
    assert not again.stale  # the same change once more (a retry of its message) is not stale
    other = store.record_alarm_state("other", state="ALARM", changed_at=t0, message_id="m4")
    assert not other.stale and other.previous_state is None


def test_concurrent_alarm_changes_leave_the_newest(make_store: StoreFactory, clock: FakeClock) -> None:
    """Two processes record changes of one alarm at once: whatever the interleaving, the newest
    change is what stays recorded, and a change older than it is reported stale."""
    stores = [make_store(), make_store()]
    t0 = clock()
    results: dict[int, Any] = {}
    barrier = threading.Barrier(2)

    def record(index: int) -> None:
        barrier.wait()
        results[index] = stores[index].record_alarm_state(
            ALARM,
            state=("ALARM", "OK")[index],
            changed_at=t0 + timedelta(seconds=index),
            message_id=f"m{index}",
        )

    threads = [threading.Thread(target=record, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not results[1].stale  # the newer one always applies
    final = stores[0].record_alarm_state(
        ALARM, state="X", changed_at=t0 + timedelta(milliseconds=500), message_id="probe"
    )
    assert final.stale and final.previous_state == "OK"


def test_migration_from_version_1_keeps_rows_and_adds_the_statuses(
    store_url: tuple[str, dict[str, Any]], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = store_url
    module: Any = sqlite_module if url.startswith("sqlite") else postgres_module
    with monkeypatch.context() as patch:
        patch.setattr(module, "SCHEMA_VERSION", 1)
        patch.setattr(module, "_MIGRATIONS", module._MIGRATIONS[:1])
        old = open_store(url, clock=clock, **options)
        try:
            for index in range(5):
                old.add(message(f"m{index}"))
                clock.advance(1)
            # Finishing a message writes columns of later versions (the console's producer):
            # version 1 rows are claimed and have a ledger entry, and are finished after.
            old.claim("w", limit=2)
            old.record_action("m0", "handler:a")
            old.claim("w", limit=1)
        finally:
            old.close()
    new: InboxStore = open_store(url, clock=clock, **options)
    try:
        assert new.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
        assert new.complete("m0", "w") and new.fail("m1", "w", error="boom")  # leases kept
        assert new.get("m0").status is InboxStatus.DONE  # type: ignore[union-attr]
        assert new.get("m1").last_error == "boom"  # type: ignore[union-attr]
        assert new.action_succeeded("m0", "handler:a")
        assert new.get("m2").status is InboxStatus.PROCESSING  # type: ignore[union-attr]
        assert [r.message_id for r in new.claim("w", limit=10)] == ["m3", "m4"]  # order kept
        assert new.set_aside("m2", "w", status=InboxStatus.TEST, reason="test event")
        assert new.add(message("m5"))
        assert [r.message_id for r in new.list_messages(limit=2)] == ["m5", "m4"]
    finally:
        new.close()
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            seq = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        assert {"inbox_pending", "inbox_status", "inbox_received"} <= indexes
        assert "inbox_rebuilt" not in seq and seq["inbox"] == 6
