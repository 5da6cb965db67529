"""The embedded inbox: one SQLite file in WAL mode.

Writes of new messages go through one committer thread (group commit); everything else uses
short transactions on per-thread connections. ``BEGIN IMMEDIATE`` makes claims atomic across
threads and processes sharing the file.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ..exceptions import ConfigurationError, StoreUnavailableError
from ._batching import GroupCommitter
from .base import (
    SCHEMA_VERSION,
    InboxRecord,
    InboxStatus,
    NewMessage,
    SubscriptionEvent,
    SubscriptionRecord,
    SubscriptionState,
)

__all__ = ["SQLiteStore"]

_SCHEMA: Final = [
    """CREATE TABLE IF NOT EXISTS inbox (
        message_id TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL,
        topic_arn TEXT NOT NULL,
        message_type TEXT NOT NULL,
        subject TEXT,
        body BLOB NOT NULL,
        raw_delivery INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        received_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        next_attempt_at REAL,
        lease_owner TEXT,
        lease_until REAL
    )""",
    "CREATE INDEX IF NOT EXISTS inbox_status ON inbox (status, next_attempt_at, received_at)",
    """CREATE TABLE IF NOT EXISTS actions (
        message_id TEXT NOT NULL,
        action_key TEXT NOT NULL,
        done_at REAL NOT NULL,
        PRIMARY KEY (message_id, action_key)
    )""",
    """CREATE TABLE IF NOT EXISTS subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        topic_arn TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        state TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subscription_arn TEXT,
        token TEXT,
        subscribe_url TEXT,
        detail TEXT
    )""",
]
_COLUMNS: Final = (
    "message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, status, attempts, "
    "last_error, received_at, updated_at, next_attempt_at, lease_owner, lease_until"
)
_DUE: Final = (
    "(status = 'received' OR (status = 'retrying' AND next_attempt_at <= :now) "
    "OR (status = 'processing' AND lease_until <= :now))"
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _record(row: sqlite3.Row) -> InboxRecord:
    return InboxRecord(
        message_id=row["message_id"],
        endpoint=row["endpoint"],
        topic_arn=row["topic_arn"],
        message_type=row["message_type"],
        subject=row["subject"],
        body=bytes(row["body"]),
        raw_delivery=bool(row["raw_delivery"]),
        status=InboxStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        received_at=datetime.fromtimestamp(row["received_at"], UTC),
        updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
        next_attempt_at=_ts(row["next_attempt_at"]),
        lease_owner=row["lease_owner"],
        lease_until=_ts(row["lease_until"]),
    )


def _subscription(row: sqlite3.Row) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row["id"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        topic_arn=row["topic_arn"],
        endpoint=row["endpoint"],
        state=SubscriptionState(row["state"]),
        message_id=row["message_id"],
        subscription_arn=row["subscription_arn"],
        token=row["token"],
        subscribe_url=row["subscribe_url"],
        detail=row["detail"],
    )


class SQLiteStore:
    """Inbox in the SQLite file ``path``. ``synchronous="FULL"`` (default) fsyncs every
    commit: an acknowledged message survives a power loss; ``"NORMAL"`` survives a crash of
    the process but may lose the last commits on power loss."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        max_batch: int = 256,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ConfigurationError("synchronous must be FULL or NORMAL", value=synchronous)
        self.path = str(path)
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.clock = clock or _utcnow
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._committer = GroupCommitter(self._write_batch, max_batch=max_batch, name="sns-sqlite-commit")

    # -- connections ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        try:
            connection = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
            connection.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open SQLite inbox {self.path}: {exc}") from exc
        self._local.connection = connection
        with self._connections_lock:
            self._connections.append(connection)
        return connection

    @contextmanager
    def _transaction(self, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(f"SQLite inbox unavailable: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailableError(f"SQLite inbox error: {exc}") from exc

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._connect().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(f"SQLite inbox unavailable: {exc}") from exc

    def _now(self) -> float:
        return self.clock().timestamp()

    # -- schema -----------------------------------------------------------------------

    def migrate(self) -> None:
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise StoreUnavailableError(
                    f"inbox schema version {current} is newer than this sns-subscriber ({SCHEMA_VERSION}); upgrade it"
                )
            if current < 1:
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (1)")

    def schema_version(self) -> int:
        return int(self._read("SELECT MAX(version) FROM schema_version")[0][0] or 0)

    # -- receiving ----------------------------------------------------------------------

    def submit(self, item: NewMessage) -> Future[bool]:
        return self._committer.submit(item)

    def add(self, item: NewMessage) -> bool:
        return self.submit(item).result()

    def _write_batch(self, items: Sequence[NewMessage]) -> list[bool]:
        now = self._now()
        results: list[bool] = []
        with self._transaction() as db:
            for item in items:
                cursor = db.execute(
                    "INSERT INTO inbox (message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, "
                    "status, attempts, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'received', 0, ?, ?) "
                    "ON CONFLICT (message_id) DO NOTHING",
                    (item.message_id, item.endpoint, item.topic_arn, item.message_type, item.subject,
                     item.body, int(item.raw_delivery), now, now),
                )  # fmt: skip
                results.append(cursor.rowcount == 1)
        return results

    # -- working ----------------------------------------------------------------------

    def claim(self, worker_id: str, *, limit: int = 10, lease_seconds: float = 60.0) -> list[InboxRecord]:
        now = self._now()
        with self._transaction() as db:
            rows = db.execute(
                f"UPDATE inbox SET status = 'processing', lease_owner = :worker, lease_until = :until, "
                f"attempts = attempts + 1, updated_at = :now WHERE message_id IN ("
                f"SELECT message_id FROM inbox WHERE {_DUE} ORDER BY received_at LIMIT :limit) RETURNING {_COLUMNS}",
                {"worker": worker_id, "until": now + lease_seconds, "now": now, "limit": limit},
            ).fetchall()
        return sorted((_record(r) for r in rows), key=lambda r: r.received_at)

    def claim_message(
        self, message_id: str, worker_id: str, *, lease_seconds: float = 60.0
    ) -> InboxRecord | None:
        now = self._now()
        with self._transaction() as db:
            row = db.execute(
                f"UPDATE inbox SET status = 'processing', lease_owner = :worker, lease_until = :until, "
                f"attempts = attempts + 1, updated_at = :now WHERE message_id = :id AND {_DUE} RETURNING {_COLUMNS}",
                {"worker": worker_id, "until": now + lease_seconds, "now": now, "id": message_id},
            ).fetchone()
        return _record(row) if row is not None else None

    def _finish(self, message_id: str, worker_id: str, sql: str, params: dict[str, Any]) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE inbox SET {sql}, lease_owner = NULL, lease_until = NULL, updated_at = :now "
                "WHERE message_id = :id AND status = 'processing' AND lease_owner = :worker",
                {"id": message_id, "worker": worker_id, "now": self._now(), **params},
            )
            return cursor.rowcount == 1

    def complete(self, message_id: str, worker_id: str) -> bool:
        return self._finish(message_id, worker_id, "status = 'done', next_attempt_at = NULL", {})

    def retry(self, message_id: str, worker_id: str, *, error: str, delay_seconds: float) -> bool:
        return self._finish(
            message_id,
            worker_id,
            "status = 'retrying', last_error = :error, next_attempt_at = :due",
            {"error": error, "due": self._now() + delay_seconds},
        )

    def fail(self, message_id: str, worker_id: str, *, error: str) -> bool:
        return self._finish(
            message_id,
            worker_id,
            "status = 'dead', last_error = :error, next_attempt_at = NULL",
            {"error": error},
        )

    # -- looking ----------------------------------------------------------------------

    def get(self, message_id: str) -> InboxRecord | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM inbox WHERE message_id = ?", (message_id,))
        return _record(rows[0]) if rows else None

    def list(self, *, status: InboxStatus | None = None, limit: int = 100) -> builtins.list[InboxRecord]:
        if status is None:
            rows = self._read(f"SELECT {_COLUMNS} FROM inbox ORDER BY received_at DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                f"SELECT {_COLUMNS} FROM inbox WHERE status = ? ORDER BY received_at DESC LIMIT ?",
                (str(status), limit),
            )
        return [_record(r) for r in rows]

    def counts(self) -> dict[InboxStatus, int]:
        counts = dict.fromkeys(InboxStatus, 0)
        for row in self._read("SELECT status, COUNT(*) FROM inbox GROUP BY status"):
            counts[InboxStatus(row[0])] = row[1]
        return counts

    def replay(self, message_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE inbox SET status = 'received', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, "
                "updated_at = ? WHERE message_id = ? AND status IN ('done', 'dead')",
                (self._now(), message_id),
            )
            return cursor.rowcount == 1

    def replay_status(self, status: InboxStatus) -> int:
        if status not in (InboxStatus.DONE, InboxStatus.DEAD):
            return 0
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE inbox SET status = 'received', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, "
                "updated_at = ? WHERE status = ?",
                (self._now(), str(status)),
            )
            return cursor.rowcount

    def purge(self, *, older_than: datetime) -> int:
        cutoff = older_than.timestamp()
        with self._transaction() as db:
            db.execute(
                "DELETE FROM actions WHERE message_id IN (SELECT message_id FROM inbox "
                "WHERE status IN ('done', 'dead') AND updated_at < ?)",
                (cutoff,),
            )
            cursor = db.execute(
                "DELETE FROM inbox WHERE status IN ('done', 'dead') AND updated_at < ?", (cutoff,)
            )
            return cursor.rowcount

    # -- action ledger ------------------------------------------------------------------

    def action_succeeded(self, message_id: str, action_key: str) -> bool:
        rows = self._read(
            "SELECT 1 FROM actions WHERE message_id = ? AND action_key = ?", (message_id, action_key)
        )
        return bool(rows)

    def record_action(self, message_id: str, action_key: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO actions (message_id, action_key, done_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (message_id, action_key, self._now()),
            )

    def forget_actions(self, message_id: str) -> int:
        with self._transaction() as db:
            return db.execute("DELETE FROM actions WHERE message_id = ?", (message_id,)).rowcount

    # -- subscriptions ------------------------------------------------------------------

    def record_subscription(self, event: SubscriptionEvent) -> SubscriptionRecord:
        now = self._now()
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO subscriptions (created_at, topic_arn, endpoint, state, message_id, subscription_arn, "
                "token, subscribe_url, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (now, event.topic_arn, event.endpoint, str(event.state), event.message_id, event.subscription_arn,
                 event.token, event.subscribe_url, event.detail),
            ).fetchone()  # fmt: skip
        return _subscription(row)

    def list_subscriptions(self) -> builtins.list[SubscriptionRecord]:
        return [_subscription(r) for r in self._read("SELECT * FROM subscriptions ORDER BY id DESC")]

    def get_subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        rows = self._read("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,))
        return _subscription(rows[0]) if rows else None

    # -- lifecycle ----------------------------------------------------------------------

    def ping(self) -> None:
        self._read("SELECT 1 FROM schema_version LIMIT 1")

    def close(self) -> None:
        if self._closed:
            return
        self._committer.close()
        self._closed = True
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
