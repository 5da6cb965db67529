"""What only the SQLite store has: URLs, pragmas, the file on disk, and its failure modes."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sns_subscriber.exceptions import ConfigurationError, StoreUnavailableError
from sns_subscriber.stores import InboxStatus, SQLiteStore, open_store

from ..support.stores import message


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "inbox.db"


@pytest.fixture
def store(db: Path) -> Iterator[SQLiteStore]:
    store = open_store(f"sqlite:///{db}", busy_timeout=0.2)
    assert isinstance(store, SQLiteStore)
    yield store
    store.close()


@pytest.fixture
def locked(store: SQLiteStore, db: Path) -> Iterator[sqlite3.Connection]:
    """Another process's writer, holding the write lock until the test releases it."""
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def test_absolute_relative_and_memory_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_store(f"sqlite:///{tmp_path}/a/inbox.db")
    absolute.close()
    assert (tmp_path / "a" / "inbox.db").is_file()

    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///var/relative.db")
    relative.close()
    assert (tmp_path / "var" / "relative.db").is_file()

    memory = open_store("sqlite:///:memory:")
    try:
        assert memory.add(message("m"))
        assert [r.message_id for r in memory.claim("w")] == ["m"]
    finally:
        memory.close()
    assert not (tmp_path / ":memory:").exists()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "sqlite://host/inbox.db", "sqlite:///inbox.db?mode=ro"]
)
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_store(url)


def test_a_committed_row_is_in_the_file(db: Path) -> None:
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.submit(message("durable")).result(timeout=10)
        # A connection that shares nothing with the store, opened after the future resolved.
        with sqlite3.connect(db) as reader:
            rows = reader.execute("SELECT message_id, status FROM inbox").fetchall()
        reader.close()
        assert rows == [("durable", "received")]
    finally:
        store.close()


@pytest.mark.parametrize(("option", "expected"), [(None, 2), ("NORMAL", 1), ("full", 2)])
def test_wal_and_synchronous(db: Path, option: str | None, expected: int) -> None:
    options = {} if option is None else {"synchronous": option}
    store = SQLiteStore(db, **options)  # type: ignore[arg-type]
    try:
        store.migrate()
        conn = store._connect()
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("PRAGMA synchronous").fetchone() == (expected,)
        finally:
            conn.close()
    finally:
        store.close()


def test_bad_options(db: Path) -> None:
    with pytest.raises(ConfigurationError, match="synchronous"):
        SQLiteStore(db, synchronous="OFF")
    with pytest.raises(ConfigurationError, match="busy_timeout"):
        SQLiteStore(db, busy_timeout=-1)


def test_unwritable_location_is_unavailable(tmp_path: Path) -> None:
    # A regular file where the directory should be: no one (root included) can create the db.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(StoreUnavailableError, match="directory"):
        open_store(f"sqlite:///{blocker}/inbox.db")
    store = SQLiteStore(blocker / "inbox.db")
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            store.add(message("m"))
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(StoreUnavailableError):
            store.ping()
    finally:
        store.close()


def test_not_a_database_is_unavailable(db: Path) -> None:
    db.write_bytes(b"this is not a SQLite file" * 100)
    with pytest.raises(StoreUnavailableError, match="not a database"):
        open_store(f"sqlite:///{db}")


def test_locked_past_the_busy_timeout_is_unavailable_then_recovers(
    store: SQLiteStore, locked: sqlite3.Connection
) -> None:
    for operation in (
        lambda: store.add(message("m")),
        lambda: store.claim("w"),
        store.ping,
        lambda: store.record_action("m", "k"),
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="locked"):
            operation()
        assert time.monotonic() - started < 2
    # In WAL mode a writer does not block readers.
    assert store.counts()[InboxStatus.RECEIVED] == 0
    locked.execute("ROLLBACK")
    assert store.add(message("m")) is True


def test_a_writer_waits_for_a_short_lock(db: Path) -> None:
    store = open_store(f"sqlite:///{db}", busy_timeout=5)
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.2, lambda: other.execute("ROLLBACK"))
        release.start()
        assert store.add(message("patient")) is True
        release.join()
    finally:
        other.close()
        store.close()


def test_a_newer_schema_is_refused(db: Path) -> None:
    open_store(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')")
    conn.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        open_store(f"sqlite:///{db}")


def test_claims_walk_the_pending_index(db: Path) -> None:
    open_store(f"sqlite:///{db}").close()
    from sns_subscriber.stores.sqlite import _CLAIM

    with sqlite3.connect(db) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + _CLAIM, {"owner": "w", "until": "", "now": "", "limit": 1}
        ).fetchall()
    conn.close()
    assert any("inbox_pending" in row[-1] for row in plan), plan
    assert not any("TEMP B-TREE" in row[-1] for row in plan), plan


def test_a_batch_larger_than_the_parameter_chunk_reports_each_row(store: SQLiteStore) -> None:
    assert store.add(message("m0000"))
    ids = [f"m{i:04d}" for i in range(1200)] + ["m0600", "m1199"]  # stored, new, then repeats
    results = store._insert_batch([message(i) for i in ids])
    assert results == [False] + [True] * 1199 + [False, False]
    assert store.counts()[InboxStatus.RECEIVED] == 1200
