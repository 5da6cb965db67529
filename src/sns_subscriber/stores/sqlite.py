"""The embedded inbox: one SQLite file in WAL mode, shared by threads and processes.

New messages are written by one committer thread (group commit, see ``_batching``); every
other operation borrows a pooled connection for one short transaction. Writes start with
``BEGIN IMMEDIATE``: SQLite then serializes writers across every process using the file, so a
claim's read-then-update cannot interleave with another claim's.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from .._files import create_private_file
from ..exceptions import ConfigurationError, StoreUnavailableError
from ._batching import DEFAULT_MAX_PENDING, GroupCommitter
from ._sql import SQLStore
from .base import (
    FINISHED_STATUSES,
    MAX_REJECTIONS,
    OPEN_STATUSES,
    SCHEMA_VERSION,
    SEARCH_SCAN_ROWS,
    SUMMARY_COLUMNS,
    ActionRecord,
    AlarmTransition,
    AlertRecord,
    Clock,
    DigestItem,
    InboxRecord,
    InboxStats,
    InboxStatus,
    MessageFilter,
    MessagePage,
    MessageSummary,
    NewMessage,
    OverviewStats,
    PageCursor,
    PurgeCutoffs,
    Rejection,
    RejectionRecord,
    SubscriptionEvent,
    SubscriptionRecord,
    SubscriptionState,
    alert_from_row,
    as_utc,
    build_stats,
    check_limit,
    check_page_limit,
    clean_text,
    escape_like,
    filter_clauses,
    keyset_clause,
    record_from_row,
    rejection_from_row,
    search_page,
    subscription_from_row,
    summary_from_row,
    utc_now,
    where_sql,
)

__all__ = ["SQLiteStore"]

MEMORY: Final = ":memory:"

#: The inbox columns of schema version 1, which migration 2 copies (frozen, like any migration).
_V1_COLUMNS: Final = (
    "seq, message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, status, attempts, "
    "last_error, received_at, updated_at, next_attempt_at, lease_owner, lease_until"
)

# Each entry upgrades the schema by one version; entry i creates version i + 1.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE inbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL UNIQUE,
            endpoint TEXT NOT NULL,
            topic_arn TEXT NOT NULL,
            message_type TEXT NOT NULL,
            subject TEXT,
            body BLOB NOT NULL,
            raw_delivery INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'processing', 'done', 'retrying', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            received_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            next_attempt_at TEXT,
            lease_owner TEXT,
            lease_until TEXT
        )""",
        # Claims walk this index oldest first and stop after LIMIT hits, however many done
        # rows the table holds. The claim query repeats its WHERE clause verbatim (SQLite
        # only uses a partial index whose condition the query states as written) and names
        # it with INDEXED BY: without statistics the planner prefers sorting a whole backlog.
        """CREATE INDEX inbox_pending ON inbox (received_at, seq)
            WHERE status IN ('received', 'retrying', 'processing')""",
        "CREATE INDEX inbox_status ON inbox (status, received_at, seq)",
        "CREATE INDEX inbox_received ON inbox (received_at, seq)",
        """CREATE TABLE inbox_actions (
            message_id TEXT NOT NULL,
            action_key TEXT NOT NULL,
            done_at TEXT NOT NULL,
            PRIMARY KEY (message_id, action_key)
        ) WITHOUT ROWID""",
        """CREATE TABLE subscriptions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic_arn TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'unsubscribed', 'failed')),
            message_id TEXT NOT NULL,
            subscription_arn TEXT,
            token TEXT,
            subscribe_url TEXT,
            detail TEXT,
            created_at TEXT NOT NULL
        )""",
    ),
    # 2: alerts waiting for a recipient's daily or weekly digest.
    (
        """CREATE TABLE digest_items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL,
            due_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            claimed_by TEXT,
            claim_until TEXT,
            sent_at TEXT,
            UNIQUE (recipient, message_id)
        )""",
        "CREATE INDEX digest_items_due ON digest_items (due_at, id) WHERE sent_at IS NULL",
    ),
    # 3: messages a queue poller or dlq drain refused, left in their queue.
    (
        """CREATE TABLE rejections (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            message_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
    ),
    # 4: statuses 'test' and 'stale'; the newest state change processed per alarm. SQLite
    # cannot change a CHECK constraint in place: the table is rebuilt (same columns, rows,
    # seq values and AUTOINCREMENT counter) and its indexes created again.
    (
        """CREATE TABLE inbox_rebuilt (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL UNIQUE,
            endpoint TEXT NOT NULL,
            topic_arn TEXT NOT NULL,
            message_type TEXT NOT NULL,
            subject TEXT,
            body BLOB NOT NULL,
            raw_delivery INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'processing', 'done', 'retrying', 'dead', 'test', 'stale')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            received_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            next_attempt_at TEXT,
            lease_owner TEXT,
            lease_until TEXT
        )""",
        f"INSERT INTO inbox_rebuilt ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM inbox",
        # The old counter may be past every seq left (purged rows): keep it, not max(seq).
        "DELETE FROM sqlite_sequence WHERE name = 'inbox_rebuilt'",
        "UPDATE sqlite_sequence SET name = 'inbox_rebuilt' WHERE name = 'inbox'",
        "DROP TABLE inbox",
        "ALTER TABLE inbox_rebuilt RENAME TO inbox",
        """CREATE INDEX inbox_pending ON inbox (received_at, seq)
            WHERE status IN ('received', 'retrying', 'processing')""",
        "CREATE INDEX inbox_status ON inbox (status, received_at, seq)",
        "CREATE INDEX inbox_received ON inbox (received_at, seq)",
        """CREATE TABLE alarm_states (
            alarm_key TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            state_change_time TEXT NOT NULL,
            message_id TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
    # 5: operational alerts, and signature failures (403s) per endpoint and minute (bounded: the
    # endpoints are configured, and old minutes are pruned).
    (
        """CREATE TABLE alerts (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            detail TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            notified_at TEXT,
            resolved_at TEXT,
            notifications INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (kind, key)
        ) WITHOUT ROWID""",
        """CREATE TABLE signature_failures (
            endpoint TEXT NOT NULL,
            minute TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (endpoint, minute)
        ) WITHOUT ROWID""",
    ),
    # 6: the console: the producer the worker detected, and one index per filter of the
    # newest-first listings, so a filtered page walks an index instead of sorting. The
    # producer index is partial: a new message has no producer yet, so inserts skip it.
    (
        "ALTER TABLE inbox ADD COLUMN producer TEXT",
        "CREATE INDEX inbox_endpoint ON inbox (endpoint, received_at, seq)",
        "CREATE INDEX inbox_topic ON inbox (topic_arn, received_at, seq)",
        "CREATE INDEX inbox_producer ON inbox (producer, received_at, seq) WHERE producer IS NOT NULL",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_RECORD_COLUMNS: Final = (
    "message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, status, attempts, "
    "last_error, received_at, updated_at, next_attempt_at, lease_owner, lease_until"
)
_SUBSCRIPTION_COLUMNS: Final = (
    "id, topic_arn, endpoint, state, message_id, subscription_arn, token, subscribe_url, detail, created_at"
)

_INSERT: Final = """
    INSERT INTO inbox (message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery,
                       received_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (message_id) DO NOTHING"""
#: SQLite's default limit on ? parameters is 32766 (999 before 3.32): stay well under it.
_MAX_PARAMS: Final = 500


def _stored_ids(conn: sqlite3.Connection, message_ids: Sequence[str]) -> set[str]:
    """Which of ``message_ids`` the inbox already holds."""
    found: set[str] = set()
    for start in range(0, len(message_ids), _MAX_PARAMS):
        chunk = message_ids[start : start + _MAX_PARAMS]
        marks = ", ".join("?" * len(chunk))
        found.update(
            row[0]
            for row in conn.execute(f"SELECT message_id FROM inbox WHERE message_id IN ({marks})", chunk)
        )
    return found


_CLAIM: Final = f"""
    UPDATE inbox
    SET status = 'processing', attempts = attempts + 1, lease_owner = :owner, lease_until = :until,
        next_attempt_at = NULL, updated_at = :now
    WHERE seq IN (
        SELECT seq FROM inbox INDEXED BY inbox_pending
        WHERE status IN ('received', 'retrying', 'processing')
          AND (status = 'received'
               OR (status = 'retrying' AND next_attempt_at <= :now)
               OR (status = 'processing' AND lease_until <= :now))
        ORDER BY received_at, seq
        LIMIT :limit)
    RETURNING {_RECORD_COLUMNS}, seq"""
# A worker still holds a message while no other worker has claimed it since, even if its
# lease ran out: finishing the work it did beats running the message again.
_FINISH: Final = """
    UPDATE inbox
    SET status = :status, last_error = coalesce(:error, last_error), next_attempt_at = :next_attempt_at,
        lease_owner = NULL, lease_until = NULL, updated_at = :now, producer = coalesce(:producer, producer)
    WHERE message_id = :message_id AND status = 'processing' AND lease_owner = :owner"""
_DEFER: Final = """
    UPDATE inbox
    SET status = 'retrying', attempts = max(attempts - 1, 0), last_error = :error,
        next_attempt_at = :next_attempt_at, lease_owner = NULL, lease_until = NULL, updated_at = :now
    WHERE message_id = :message_id AND status = 'processing' AND lease_owner = :owner"""
_DIGEST_ADD: Final = """
    INSERT INTO digest_items (recipient, message_id, due_at, payload, created_at)
    VALUES (:recipient, :message_id, :due_at, :payload, :now)
    ON CONFLICT (recipient, message_id) DO NOTHING"""
_DIGEST_CLAIMABLE: Final = "sent_at IS NULL AND due_at <= :due AND (claimed_by IS NULL OR claim_until < :now)"
_DIGEST_NEXT: Final = (
    f"SELECT recipient FROM digest_items WHERE {_DIGEST_CLAIMABLE} ORDER BY due_at, id LIMIT 1"
)
_DIGEST_CLAIM: Final = f"""
    UPDATE digest_items SET claimed_by = :owner, claim_until = :until
    WHERE id IN (SELECT id FROM digest_items WHERE recipient = :recipient AND {_DIGEST_CLAIMABLE}
                 ORDER BY id LIMIT :limit)
    RETURNING id, recipient, message_id, due_at, payload"""
_RECORD_ACTION: Final = """
    INSERT INTO inbox_actions (message_id, action_key, done_at) VALUES (?, ?, ?)
    ON CONFLICT (message_id, action_key) DO NOTHING"""
_REPLAY_SET: Final = """
    UPDATE inbox
    SET status = 'received', attempts = 0, next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL,
        updated_at = ?"""
_REPLAY_ONE: Final = _REPLAY_SET + " WHERE message_id = ? AND status IN ('done', 'dead')"
_REPLAY_STATUS: Final = _REPLAY_SET + " WHERE status = ?"
_ALERT_COLUMNS: Final = "kind, key, state, detail, opened_at, notified_at, resolved_at, notifications"
_OPEN_ALERT: Final = """
    INSERT INTO alerts (kind, key, state, detail, opened_at, notified_at, resolved_at, notifications)
    VALUES (:kind, :key, 'open', :detail, :now, :now, NULL, 1)
    ON CONFLICT (kind, key) DO UPDATE SET state = 'open', detail = excluded.detail, opened_at = excluded.opened_at,
        notified_at = excluded.notified_at, resolved_at = NULL, notifications = 1
    WHERE alerts.state = 'resolved'
    RETURNING 1"""
_CLAIM_REMINDER: Final = f"""
    UPDATE alerts SET notified_at = :now, notifications = notifications + 1
    WHERE kind = :kind AND key = :key AND state = 'open' AND (notified_at IS NULL OR notified_at < :before)
    RETURNING {_ALERT_COLUMNS}"""
_RESOLVE_ALERT: Final = f"""
    UPDATE alerts SET state = 'resolved', resolved_at = :now
    WHERE kind = :kind AND key = :key AND state = 'open'
    RETURNING {_ALERT_COLUMNS}"""
_RECORD_ALARM: Final = """
    INSERT INTO alarm_states (alarm_key, state, state_change_time, message_id, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (alarm_key) DO UPDATE SET state = excluded.state, state_change_time = excluded.state_change_time,
        message_id = excluded.message_id, updated_at = excluded.updated_at"""
# One batch of retention: the rows are picked through the status index, oldest first, and
# deleted in the same short write transaction.
_PURGE_BATCH: Final = """
    DELETE FROM inbox WHERE seq IN (
        SELECT seq FROM inbox
        WHERE ((status IN ('done', 'test', 'stale') AND updated_at < :done)
               OR (status = 'dead' AND updated_at < :dead))
          AND received_at < :notifications
          AND (message_type = 'Notification' OR received_at < :confirmations)
        LIMIT :limit)
    RETURNING message_id"""

# Primary result codes that mean "the database cannot be used right now", not "the SQL is
# wrong": locked past the busy timeout, I/O error, disk full, file unreadable or read-only.
_OUTAGE_CODES: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)

# Values come from this table, never from the caller: PRAGMA takes no parameters.
_SYNCHRONOUS_PRAGMAS: Final = {
    "NORMAL": "PRAGMA synchronous = NORMAL",
    "FULL": "PRAGMA synchronous = FULL",
    "EXTRA": "PRAGMA synchronous = EXTRA",
}


def _ts(value: datetime) -> str:
    # Fixed-width ISO 8601 in UTC sorts like the instants it names, so SQL compares text.
    return as_utc(value).isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _record(row: Sequence[Any]) -> InboxRecord:
    return record_from_row(row, _dt)


def _subscription(row: Sequence[Any]) -> SubscriptionRecord:
    return subscription_from_row(row, _dt)


def _summary(row: Sequence[Any]) -> MessageSummary:
    return summary_from_row(row, _dt)


class _ConnectionPool:
    """Idle connections kept for reuse; ``limit`` bounds how many exist at once."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, limit: int | None, keep: int) -> None:
        self._connect = connect
        self._keep = keep
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limit) if limit else None
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        if self._slots is not None:
            self._slots.acquire()
        try:
            with self._lock:
                if self._closed:
                    raise StoreUnavailableError("the store is closed")
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            reusable = False
            try:
                yield conn
                reusable = not conn.in_transaction
            finally:
                self._give_back(conn, reusable)
        finally:
            if self._slots is not None:
                self._slots.release()

    def _give_back(self, conn: sqlite3.Connection, reusable: bool) -> None:
        if not reusable:
            # Left mid-transaction by an error: roll back, or drop it if even that fails.
            try:
                conn.rollback()
            except sqlite3.Error:
                conn.close()
                return
        with self._lock:
            if not self._closed and len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class SQLiteStore(SQLStore):
    """The inbox in one SQLite file (or ``":memory:"``, for one process and tests).

    ``synchronous`` is ``"FULL"`` (default: a commit survives power loss) or ``"NORMAL"`` (in
    WAL mode a commit survives a crash of the process but maybe not of the machine).
    ``busy_timeout`` is how long, in seconds, a write waits for another writer before the
    store reports itself unavailable.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        max_batch: int = 256,
        max_pending: int = DEFAULT_MAX_PENDING,
        clock: Clock | None = None,
    ) -> None:
        pragma = _SYNCHRONOUS_PRAGMAS.get(str(synchronous).upper())
        if pragma is None:
            raise ConfigurationError(
                "SQLite synchronous must be FULL, NORMAL or EXTRA", value=str(synchronous)
            )
        if busy_timeout < 0:
            raise ConfigurationError("SQLite busy_timeout must be >= 0 seconds", value=str(busy_timeout))
        self._path = os.fspath(path)
        if not self._path:
            raise ConfigurationError("SQLite store needs a file path (or :memory:)", value=self._path)
        self._memory = self._path == MEMORY
        self._synchronous_pragma = pragma
        self._busy_timeout = busy_timeout
        self._clock = clock or utc_now
        # An in-memory database lives and dies with its one connection, so everything
        # (the committer included) takes turns on it.
        self._pool: _ConnectionPool = _ConnectionPool(
            self._connect, limit=1 if self._memory else None, keep=8
        )
        self._committer: GroupCommitter[NewMessage] = GroupCommitter(
            self._insert_batch,
            max_batch=max_batch,
            weigh=lambda item: len(item.body),
            max_pending=max_pending,
            name=f"sns-sqlite-commit:{Path(self._path).name}",
        )
        self._close_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    @property
    def path(self) -> str:
        return self._path

    # -- connections and transactions -----------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if not self._memory:
            # SQLite would create the file 0644; its -wal and -shm files copy the database's
            # mode, so creating the database 0600 first keeps all three private. Any other
            # failure (no such directory, ...) is SQLite's to report, just below.
            with contextlib.suppress(OSError):
                create_private_file(self._path)
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,  # pooled connections move between threads, one at a time
        )
        try:
            conn.execute(self._synchronous_pragma)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _OUTAGE_CODES:
                raise StoreUnavailableError(f"SQLite store {self._path} is unavailable: {exc}") from exc
            raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._translated(), self._pool.borrow() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._translated(), self._pool.borrow() as conn:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            # After an exception the pool rolls back whatever is still open.
            conn.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> None:
        if not self._memory:
            try:
                Path(self._path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(
                    f"SQLite store {self._path}: cannot create its directory: {exc}"
                ) from exc
        with self._read() as conn:
            self._enable_wal(conn)
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"SQLite store {self._path} has schema version {current}, newer than this "
                    f"sns-subscriber understands ({SCHEMA_VERSION}); upgrade sns-subscriber",
                    value=str(current),
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version - 1]:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, _ts(self._now())),
                )

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # WAL lets readers run while one writer commits; the mode is stored in the file, so
        # this only changes anything the first time. Switching needs a moment alone with the
        # file and SQLite does not wait for it (no busy handler), so processes that start
        # together retry here, within the busy timeout.
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
            else:
                return

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before :meth:`migrate`)."""
        with self._read() as conn:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone()
            if exists is None:
                return 0
            return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])

    # -- receiving ------------------------------------------------------------------------

    def _insert_batch(self, items: Sequence[NewMessage]) -> list[bool]:
        now = _ts(self._now())
        results: list[bool] = []
        rows: list[tuple[object, ...]] = []
        with self._write() as conn:
            # One query for the ids already stored, one executemany for the rest: far less
            # work per row than an INSERT each, and BEGIN IMMEDIATE keeps every other writer
            # out until COMMIT, so nothing can be inserted between the two.
            stored = _stored_ids(conn, [item.message_id for item in items])
            for item in items:
                new = item.message_id not in stored
                results.append(new)
                if new:
                    stored.add(item.message_id)  # the second of two equal ids in one batch
                    rows.append(
                        (
                            item.message_id,
                            item.endpoint,
                            item.topic_arn,
                            item.message_type,
                            item.subject,
                            item.body,
                            int(item.raw_delivery),
                            now,
                            now,
                        )
                    )
            inserted = conn.executemany(_INSERT, rows).rowcount if rows else 0
            if inserted != len(rows):  # pragma: no cover - impossible under the write lock
                raise StoreUnavailableError(f"inserted {inserted} of {len(rows)} new rows; retry")
        return results

    # -- processing -----------------------------------------------------------------------

    def claim(
        self, worker_id: str, *, limit: int = 10, lease_seconds: float = 60.0
    ) -> builtins.list[InboxRecord]:
        if check_limit(limit) == 0:
            return []
        now = self._now()
        params = {
            "owner": worker_id,
            "until": _ts(now + timedelta(seconds=lease_seconds)),
            "now": _ts(now),
            "limit": limit,
        }
        with self._write() as conn:
            rows = conn.execute(_CLAIM, params).fetchall()
        # RETURNING yields rows in no promised order; seq breaks ties of equal timestamps.
        rows.sort(key=lambda row: (row[10], row[15]))
        return [_record(row) for row in rows]

    def _finish(
        self,
        message_id: str,
        worker_id: str,
        status: InboxStatus,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        actions: Sequence[str] = (),
        producer: str | None = None,
    ) -> bool:
        now = _ts(self._now())
        params = {
            "producer": producer,
            "status": status.value,
            "error": clean_text(error),
            "next_attempt_at": None if next_attempt_at is None else _ts(next_attempt_at),
            "now": now,
            "message_id": message_id,
            "owner": worker_id,
        }
        with self._write() as conn:
            if actions:  # recorded even if the lease was lost: the actions did succeed
                conn.executemany(_RECORD_ACTION, [(message_id, key, now) for key in actions])
            return conn.execute(_FINISH, params).rowcount == 1

    def defer(self, message_id: str, worker_id: str, *, reason: str, delay_seconds: float) -> bool:
        now = self._now()
        params = {
            "error": clean_text(reason),
            "next_attempt_at": _ts(now + timedelta(seconds=max(0.0, delay_seconds))),
            "now": _ts(now),
            "message_id": message_id,
            "owner": worker_id,
        }
        with self._write() as conn:
            return conn.execute(_DEFER, params).rowcount == 1

    # -- digests ----------------------------------------------------------------------------

    def add_digest_item(self, item: DigestItem) -> bool:
        params = {
            "recipient": item.recipient,
            "message_id": item.message_id,
            "due_at": _ts(item.due_at),
            "payload": item.payload,
            "now": _ts(self._now()),
        }
        with self._write() as conn:
            return conn.execute(_DIGEST_ADD, params).rowcount == 1

    def claim_digest(
        self,
        worker_id: str,
        *,
        due_by: datetime | None = None,
        lease_seconds: float = 300.0,
        limit: int = 500,
    ) -> builtins.list[DigestItem]:
        check_limit(limit)
        now = self._now()
        params: dict[str, Any] = {
            "due": _ts(now if due_by is None else due_by),
            "now": _ts(now),
            "owner": worker_id,
            "until": _ts(now + timedelta(seconds=lease_seconds)),
            "limit": limit,
        }
        # BEGIN IMMEDIATE: one writer at a time, so two senders never split or share a digest.
        with self._write() as conn:
            row = conn.execute(_DIGEST_NEXT, params).fetchone()
            if row is None:
                return []
            rows = conn.execute(_DIGEST_CLAIM, {**params, "recipient": row[0]}).fetchall()
        items = [
            DigestItem(id=r[0], recipient=r[1], message_id=r[2], due_at=_dt(r[3]), payload=r[4]) for r in rows
        ]
        return sorted(items, key=lambda item: item.id or 0)

    def finish_digest(self, worker_id: str, ids: Sequence[int], *, sent: bool) -> int:
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        done = "sent_at = ?, " if sent else ""
        params: list[Any] = [_ts(self._now())] if sent else []
        with self._write() as conn:
            return conn.execute(
                f"UPDATE digest_items SET {done}claimed_by = NULL, claim_until = NULL "
                f"WHERE claimed_by = ? AND sent_at IS NULL AND id IN ({marks})",
                [*params, worker_id, *ids],
            ).rowcount

    def record_alarm_state(
        self, alarm_key: str, *, state: str, changed_at: datetime, message_id: str
    ) -> AlarmTransition:
        changed = _ts(changed_at)
        with self._write() as conn:
            row = conn.execute(
                "SELECT state, state_change_time FROM alarm_states WHERE alarm_key = ?", (alarm_key,)
            ).fetchone()
            if row is not None and row[1] > changed:
                return AlarmTransition(stale=True, previous_state=row[0])
            conn.execute(_RECORD_ALARM, (alarm_key, state, changed, message_id, _ts(self._now())))
        return AlarmTransition(stale=False, previous_state=None if row is None else row[0])

    # -- inspecting and administering --------------------------------------------------------

    def get(self, message_id: str) -> InboxRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM inbox WHERE message_id = ?",
                (message_id,),
            ).fetchone()
        return None if row is None else _record(row)

    def list_messages(
        self, *, status: InboxStatus | None = None, limit: int = 100
    ) -> builtins.list[InboxRecord]:
        check_limit(limit)
        with self._read() as conn:
            if status is None:
                rows = conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM inbox ORDER BY received_at DESC, seq DESC LIMIT ?",
                    (limit,),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM inbox WHERE status = ? "
                    "ORDER BY received_at DESC, seq DESC LIMIT ?",
                    (InboxStatus(status).value, limit),
                ).fetchall()
        return [_record(row) for row in rows]

    def counts(self) -> dict[InboxStatus, int]:
        with self._read() as conn:
            rows = conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()
        counts = dict.fromkeys(InboxStatus, 0)
        counts.update({InboxStatus(status): count for status, count in rows})
        return counts

    def replay(self, message_id: str) -> bool:
        with self._write() as conn:
            return conn.execute(_REPLAY_ONE, (_ts(self._now()), message_id)).rowcount == 1

    def replay_status(self, status: InboxStatus) -> int:
        if InboxStatus(status) not in FINISHED_STATUSES:
            return 0
        with self._write() as conn:
            return int(conn.execute(_REPLAY_STATUS, (_ts(self._now()), status.value)).rowcount)

    def purge(self, *, older_than: datetime) -> int:
        cutoff = _ts(older_than)
        with self._write() as conn:
            conn.execute(
                "DELETE FROM inbox_actions WHERE message_id IN (SELECT message_id FROM inbox "
                "WHERE status IN ('done', 'dead') AND updated_at < ?)",
                (cutoff,),
            )
            return int(
                conn.execute(
                    "DELETE FROM inbox WHERE status IN ('done', 'dead') AND updated_at < ?", (cutoff,)
                ).rowcount
            )

    def purge_batch(self, cutoffs: PurgeCutoffs, *, limit: int = 500) -> int:
        if check_limit(limit) == 0:
            return 0
        params = {
            "done": _ts(cutoffs.done_before),
            "dead": _ts(cutoffs.dead_before),
            "notifications": _ts(cutoffs.notification_tombstones_since),
            "confirmations": _ts(cutoffs.confirmation_tombstones_since),
            "limit": limit,
        }
        with self._write() as conn:
            gone = [(row[0],) for row in conn.execute(_PURGE_BATCH, params).fetchall()]
            if gone:
                conn.executemany("DELETE FROM inbox_actions WHERE message_id = ?", gone)
        return len(gone)

    def stats(self) -> InboxStats:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT status, count(*), min(received_at) FROM inbox GROUP BY status"
            ).fetchall()
        counts = dict.fromkeys(InboxStatus, 0)
        oldest: dict[InboxStatus, datetime | None] = dict.fromkeys(InboxStatus, None)
        for status, count, first in rows:
            counts[InboxStatus(status)] = count
            oldest[InboxStatus(status)] = _dt(first)
        return InboxStats(counts=counts, oldest=oldest, database_bytes=self.database_bytes())

    def last_received(self, endpoint: str, *, since: datetime) -> datetime | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT max(received_at) FROM inbox INDEXED BY inbox_received WHERE received_at >= ? AND endpoint = ?",
                (_ts(since), endpoint),
            ).fetchone()
        return None if row is None or row[0] is None else _dt(row[0])

    def database_bytes(self) -> int:
        with self._read() as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        size = int(pages * page_size)
        if not self._memory:
            with contextlib.suppress(OSError):  # no WAL file right now
                size += os.stat(self._path + "-wal").st_size
        return size

    def oldest_unclaimed(self) -> datetime | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT received_at FROM inbox INDEXED BY inbox_pending "
                "WHERE status IN ('received', 'retrying', 'processing') AND status = 'received' "
                "ORDER BY received_at, seq LIMIT 1"
            ).fetchone()
        return None if row is None else _dt(row[0])

    # -- alerts ------------------------------------------------------------------------------

    def open_alert(self, kind: str, key: str, *, detail: str, now: datetime) -> bool:
        params = {"kind": kind, "key": key, "detail": clean_text(detail), "now": _ts(now)}
        with self._write() as conn:
            return conn.execute(_OPEN_ALERT, params).fetchone() is not None

    def claim_reminder(
        self, kind: str, key: str, *, now: datetime, last_before: datetime
    ) -> AlertRecord | None:
        params = {"kind": kind, "key": key, "now": _ts(now), "before": _ts(last_before)}
        with self._write() as conn:
            row = conn.execute(_CLAIM_REMINDER, params).fetchone()
        return None if row is None else alert_from_row(row, _dt)

    def resolve_alert(self, kind: str, key: str, *, now: datetime) -> AlertRecord | None:
        with self._write() as conn:
            row = conn.execute(_RESOLVE_ALERT, {"kind": kind, "key": key, "now": _ts(now)}).fetchone()
        return None if row is None else alert_from_row(row, _dt)

    def alert_unsent(self, kind: str, key: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE alerts SET notified_at = NULL WHERE kind = ? AND key = ?", (kind, key))

    def list_alerts(self, *, open_only: bool = True) -> builtins.list[AlertRecord]:
        where = "WHERE state = 'open' " if open_only else ""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts {where}ORDER BY opened_at, kind, key"
            ).fetchall()
        return [alert_from_row(row, _dt) for row in rows]

    def add_signature_failures(self, endpoint: str, minute: datetime, count: int) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO signature_failures (endpoint, minute, count) VALUES (?, ?, ?) "
                "ON CONFLICT (endpoint, minute) DO UPDATE SET count = count + excluded.count",
                (endpoint, _ts(minute), count),
            )

    def count_signature_failures(self, since: datetime) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT endpoint, sum(count) FROM signature_failures WHERE minute >= ? GROUP BY endpoint",
                (_ts(since),),
            ).fetchall()
        return {endpoint: int(total) for endpoint, total in rows}

    def prune_signature_failures(self, before: datetime) -> int:
        with self._write() as conn:
            return int(
                conn.execute("DELETE FROM signature_failures WHERE minute < ?", (_ts(before),)).rowcount
            )

    # -- action ledger ----------------------------------------------------------------------

    def action_succeeded(self, message_id: str, action_key: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT 1 FROM inbox_actions WHERE message_id = ? AND action_key = ?",
                (message_id, action_key),
            ).fetchone()
        return row is not None

    def record_action(self, message_id: str, action_key: str) -> None:
        with self._write() as conn:
            conn.execute(_RECORD_ACTION, (message_id, action_key, _ts(self._now())))

    def forget_actions(self, message_id: str) -> int:
        with self._write() as conn:
            return int(conn.execute("DELETE FROM inbox_actions WHERE message_id = ?", (message_id,)).rowcount)

    # -- console reads ------------------------------------------------------------------------

    def find_messages(
        self, where: MessageFilter, *, limit: int = 50, after: PageCursor | None = None
    ) -> MessagePage:
        check_page_limit(limit)
        clauses, params = filter_clauses(where, mark="?", ts=_ts, like="LIKE", subject=False)
        keyset, keyset_params = keyset_clause(after, mark="?", ts=_ts)
        if keyset:
            clauses.append(keyset)
            params += keyset_params
        order = " ORDER BY received_at DESC, seq DESC LIMIT ?"
        with self._read() as conn:
            if not where.subject_contains:
                rows = conn.execute(
                    f"SELECT {SUMMARY_COLUMNS} FROM inbox{where_sql(clauses)}{order}", [*params, limit + 1]
                ).fetchall()
                more = len(rows) > limit
                rows = rows[:limit]
                cursor = PageCursor(_dt(rows[-1][9]), rows[-1][11]) if more else None
                return MessagePage([_summary(row) for row in rows], cursor)
            # A substring search cannot use an index: examine a bounded window per page.
            pattern = f"%{escape_like(where.subject_contains)}%"
            window = conn.execute(
                f"SELECT message_id, received_at, seq, coalesce(subject, '') LIKE ? ESCAPE '\\' "
                f"FROM inbox{where_sql(clauses)}{order}",
                [pattern, *params, SEARCH_SCAN_ROWS],
            ).fetchall()
            hits, cursor = search_page(window, limit, SEARCH_SCAN_ROWS, _dt)
            rows = []
            for start in range(0, len(hits), _MAX_PARAMS):
                chunk = hits[start : start + _MAX_PARAMS]
                marks = ", ".join("?" * len(chunk))
                rows += conn.execute(
                    f"SELECT {SUMMARY_COLUMNS} FROM inbox WHERE message_id IN ({marks})", chunk
                ).fetchall()
        rows.sort(key=lambda row: (row[9], row[11]), reverse=True)
        return MessagePage([_summary(row) for row in rows], cursor)

    def replay_matching(self, where: MessageFilter, *, force: bool = False) -> int:
        if where.status is not None and InboxStatus(where.status) not in FINISHED_STATUSES:
            return 0
        clauses, params = filter_clauses(where, mark="?", ts=_ts, like="LIKE")
        clauses.append("status IN ('done', 'dead')")
        condition = where_sql(clauses)
        with self._write() as conn:
            if force:
                conn.execute(
                    f"DELETE FROM inbox_actions WHERE message_id IN (SELECT message_id FROM inbox{condition})",
                    params,
                )
            return int(conn.execute(f"{_REPLAY_SET}{condition}", [_ts(self._now()), *params]).rowcount)

    def list_actions(self, message_ids: Sequence[str]) -> builtins.list[ActionRecord]:
        ids = list(dict.fromkeys(message_ids))
        rows: builtins.list[Any] = []
        with self._read() as conn:
            for start in range(0, len(ids), _MAX_PARAMS):
                chunk = ids[start : start + _MAX_PARAMS]
                marks = ", ".join("?" * len(chunk))
                rows += conn.execute(
                    f"SELECT message_id, action_key, done_at FROM inbox_actions WHERE message_id IN ({marks})",
                    chunk,
                ).fetchall()
        rows.sort(key=lambda row: (row[2], row[0], row[1]))
        return [ActionRecord(message_id=row[0], action_key=row[1], done_at=_dt(row[2])) for row in rows]

    def overview(
        self,
        *,
        until: datetime,
        window: timedelta = timedelta(hours=24),
        buckets: int = 24,
        sample: int = 10_000,
        cap: int = 100_000,
    ) -> OverviewStats:
        until = as_utc(until)
        since = until - window
        step = window / buckets
        with self._read() as conn:
            totals = {
                status: conn.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM inbox WHERE status = ? LIMIT ?)", (status.value, cap)
                ).fetchone()[0]
                for status in InboxStatus
            }
            open_rows = [
                (endpoint, topic, status, count, _dt(newest))
                for status in OPEN_STATUSES
                for endpoint, topic, count, newest in conn.execute(
                    "SELECT endpoint, topic_arn, count(*), max(received_at) FROM (SELECT endpoint, topic_arn, "
                    "received_at FROM inbox WHERE status = ? ORDER BY received_at DESC LIMIT ?) "
                    "GROUP BY endpoint, topic_arn",
                    (status.value, cap),
                )
            ]
            sample_rows = [
                (endpoint, topic, InboxStatus(status), count, _dt(newest))
                for endpoint, topic, status, count, newest in conn.execute(
                    "SELECT endpoint, topic_arn, status, count(*), max(received_at) FROM (SELECT endpoint, "
                    "topic_arn, status, received_at FROM inbox ORDER BY received_at DESC, seq DESC LIMIT ?) "
                    "GROUP BY endpoint, topic_arn, status",
                    (sample,),
                )
            ]
            traffic = [
                conn.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM inbox WHERE received_at >= ? AND received_at < ? "
                    "LIMIT ?)",
                    (_ts(since + step * index), _ts(since + step * (index + 1)), cap),
                ).fetchone()[0]
                for index in range(buckets)
            ]
        return build_stats(
            totals=totals, open_rows=open_rows, sample_rows=sample_rows, traffic=traffic,
            since=since, until=until, sample=sample, cap=cap,
        )  # fmt: skip

    # -- subscriptions ------------------------------------------------------------------------

    def record_subscription(self, event: SubscriptionEvent) -> SubscriptionRecord:
        created_at = self._now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO subscriptions (topic_arn, endpoint, state, message_id, subscription_arn, token, "
                "subscribe_url, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.topic_arn,
                    event.endpoint,
                    SubscriptionState(event.state).value,
                    event.message_id,
                    event.subscription_arn,
                    event.token,
                    event.subscribe_url,
                    clean_text(event.detail),
                    _ts(created_at),
                ),
            )
            subscription_id = cursor.lastrowid
        assert subscription_id is not None
        return SubscriptionRecord(
            id=subscription_id,
            created_at=created_at,
            topic_arn=event.topic_arn,
            endpoint=event.endpoint,
            state=SubscriptionState(event.state),
            message_id=event.message_id,
            subscription_arn=event.subscription_arn,
            token=event.token,
            subscribe_url=event.subscribe_url,
            detail=clean_text(event.detail),
        )

    def list_subscriptions(self) -> builtins.list[SubscriptionRecord]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY id DESC"
            ).fetchall()
        return [_subscription(row) for row in rows]

    def get_subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?",
                (subscription_id,),
            ).fetchone()
        return None if row is None else _subscription(row)

    def latest_subscription_event(self, message_id: str) -> SubscriptionRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE message_id = ? ORDER BY id DESC LIMIT 1",
                (message_id,),
            ).fetchone()
        return None if row is None else _subscription(row)

    def confirmed_subscription(self, topic_arn: str, endpoint: str) -> SubscriptionRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE topic_arn = ? AND endpoint = ?"
                " AND state IN ('confirmed', 'unsubscribed') ORDER BY id DESC LIMIT 1",
                (topic_arn, endpoint),
            ).fetchone()
        if row is None or row[3] != SubscriptionState.CONFIRMED:
            return None
        return _subscription(row)

    def record_rejection(self, rejection: Rejection) -> None:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO rejections (source, message_id, reason, created_at) VALUES (?, ?, ?, ?)",
                (
                    clean_text(rejection.source),
                    clean_text(rejection.message_id),
                    clean_text(rejection.reason[:1000]),
                    _ts(self._now()),
                ),
            )
            conn.execute("DELETE FROM rejections WHERE id <= ?", ((cursor.lastrowid or 0) - MAX_REJECTIONS,))

    def list_rejections(self, *, limit: int = 100) -> builtins.list[RejectionRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, source, message_id, reason, created_at FROM rejections ORDER BY id DESC LIMIT ?",
                (check_limit(limit),),
            ).fetchall()
        return [rejection_from_row(row, _dt) for row in rows]

    # -- lifecycle ---------------------------------------------------------------------------

    def ping(self) -> None:
        # Readiness means "a message could be stored now": take the write lock, write nothing.
        with self._write():
            pass
