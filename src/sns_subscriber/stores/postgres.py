"""The shared inbox: PostgreSQL through psycopg 3 and a connection pool (extra ``postgres``).

Many receivers and workers on many hosts can share it: MessageId is the primary key (a
redelivery is stored once), claims use ``FOR UPDATE SKIP LOCKED``, and new messages from
concurrent requests are written together in one multi-row insert (group commit). An outage
raises :class:`StoreUnavailableError` within the connect timeout; the pool reconnects by
itself when the server is back.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

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

__all__ = ["PostgresStore"]

_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MIGRATION_LOCK: Final = 0x5E5_5B5C  # arbitrary, constant advisory-lock key
_COLUMNS: Final = (
    "message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, status, attempts, "
    "last_error, received_at, updated_at, next_attempt_at, lease_owner, lease_until"
)
_DUE: Final = (
    "(status = 'received' OR (status = 'retrying' AND next_attempt_at <= %(now)s) "
    "OR (status = 'processing' AND lease_until <= %(now)s))"
)
_SCHEMA_V1: Final = [
    """CREATE TABLE IF NOT EXISTS inbox (
        message_id TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL,
        topic_arn TEXT NOT NULL,
        message_type TEXT NOT NULL,
        subject TEXT,
        body BYTEA NOT NULL,
        raw_delivery BOOLEAN NOT NULL DEFAULT FALSE,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        received_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        next_attempt_at TIMESTAMPTZ,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ
    )""",
    "CREATE INDEX IF NOT EXISTS inbox_status ON inbox (status, next_attempt_at, received_at)",
    """CREATE TABLE IF NOT EXISTS actions (
        message_id TEXT NOT NULL,
        action_key TEXT NOT NULL,
        done_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (message_id, action_key)
    )""",
    """CREATE TABLE IF NOT EXISTS subscriptions (
        id BIGSERIAL PRIMARY KEY,
        created_at TIMESTAMPTZ NOT NULL,
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _record(row: dict[str, Any]) -> InboxRecord:
    return InboxRecord(
        message_id=row["message_id"],
        endpoint=row["endpoint"],
        topic_arn=row["topic_arn"],
        message_type=row["message_type"],
        subject=row["subject"],
        body=bytes(row["body"]),
        raw_delivery=row["raw_delivery"],
        status=InboxStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        received_at=row["received_at"],
        updated_at=row["updated_at"],
        next_attempt_at=row["next_attempt_at"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
    )


def _subscription(row: dict[str, Any]) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row["id"],
        created_at=row["created_at"],
        topic_arn=row["topic_arn"],
        endpoint=row["endpoint"],
        state=SubscriptionState(row["state"]),
        message_id=row["message_id"],
        subscription_arn=row["subscription_arn"],
        token=row["token"],
        subscribe_url=row["subscribe_url"],
        detail=row["detail"],
    )


class PostgresStore:
    """Inbox in PostgreSQL at ``url``; ``schema`` isolates its tables (created if missing)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "sns_subscriber",
        min_size: int = 1,
        max_size: int = 8,
        connect_timeout: float = 2.0,
        max_batch: int = 256,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ConfigurationError("PostgreSQL schema name must match [a-z_][a-z0-9_]*", value=schema)
        self.url = url
        self.schema = schema
        self.clock = clock or _utcnow
        self.connect_timeout = connect_timeout
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            open=False,
            kwargs={"connect_timeout": max(1, int(connect_timeout)), "autocommit": False},
            configure=self._configure,
            check=ConnectionPool.check_connection,
            reconnect_timeout=0,
            name="sns-subscriber",
        )
        # Open without waiting: a server that is down at start must not block start-up.
        self._pool.open(wait=False)
        self._closed = False
        self._committer = GroupCommitter(self._write_batch, max_batch=max_batch, name="sns-pg-commit")

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        connection.autocommit = True
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        connection.autocommit = False

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        try:
            with (
                self._pool.connection(timeout=self.connect_timeout) as connection,
                connection.transaction(),
                connection.cursor(row_factory=dict_row) as cursor,
            ):
                yield cursor
        except PoolTimeout as exc:
            raise StoreUnavailableError(f"PostgreSQL inbox unreachable: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL inbox unavailable: {exc}") from exc

    def _now(self) -> datetime:
        return self.clock()

    # -- schema -----------------------------------------------------------------------

    def migrate(self) -> None:
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        try:
            timeout = max(1, int(self.connect_timeout))
            with (
                psycopg.connect(self.url, connect_timeout=timeout) as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                # Two processes starting together must not both create the schema.
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                cursor.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema)))
                cursor.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                cursor.execute("SELECT MAX(version) FROM schema_version")
                row = cursor.fetchone()
                current = (row[0] if row else None) or 0
                if current > SCHEMA_VERSION:
                    raise StoreUnavailableError(
                        f"inbox schema version {current} is newer than this sns-subscriber ({SCHEMA_VERSION})"
                    )
                if current < 1:
                    for statement in _SCHEMA_V1:
                        cursor.execute(statement)
                    cursor.execute("INSERT INTO schema_version (version) VALUES (1)")
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL inbox unavailable: {exc}") from exc

    def schema_version(self) -> int:
        with self._transaction() as cursor:
            cursor.execute("SELECT MAX(version) AS v FROM schema_version")
            row = cursor.fetchone()
        return int(row["v"] or 0) if row else 0

    # -- receiving ----------------------------------------------------------------------

    def submit(self, item: NewMessage) -> Future[bool]:
        return self._committer.submit(item)

    def add(self, item: NewMessage) -> bool:
        return self.submit(item).result()

    def _write_batch(self, items: Sequence[NewMessage]) -> list[bool]:
        now = self._now()
        # Only the first occurrence of an id inside one batch can be the inserted one.
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.message_id, index)
        unique = [items[i] for i in sorted(first.values())]
        placeholders = sql.SQL(", ").join(
            sql.SQL("(%s, %s, %s, %s, %s, %s, %s, 'received', 0, %s, %s)") for _ in unique
        )
        params: list[Any] = []
        for item in unique:
            params += [item.message_id, item.endpoint, item.topic_arn, item.message_type, item.subject,
                       item.body, item.raw_delivery, now, now]  # fmt: skip
        query = sql.SQL(
            "INSERT INTO inbox (message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, "
            "status, attempts, received_at, updated_at) VALUES {} ON CONFLICT (message_id) DO NOTHING "
            "RETURNING message_id"
        ).format(placeholders)
        with self._transaction() as cursor:
            cursor.execute(query, params)
            inserted = {row["message_id"] for row in cursor.fetchall()}
        return [item.message_id in inserted and first[item.message_id] == i for i, item in enumerate(items)]

    # -- working ----------------------------------------------------------------------

    def claim(self, worker_id: str, *, limit: int = 10, lease_seconds: float = 60.0) -> list[InboxRecord]:
        now = self._now()
        with self._transaction() as cursor:
            cursor.execute(
                f"UPDATE inbox SET status = 'processing', lease_owner = %(worker)s, lease_until = %(until)s, "
                f"attempts = attempts + 1, updated_at = %(now)s WHERE message_id IN ("
                f"SELECT message_id FROM inbox WHERE {_DUE} ORDER BY received_at LIMIT %(limit)s "
                f"FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}",
                {
                    "worker": worker_id,
                    "until": now + timedelta(seconds=lease_seconds),
                    "now": now,
                    "limit": limit,
                },
            )
            rows = cursor.fetchall()
        return sorted((_record(r) for r in rows), key=lambda r: r.received_at)

    def claim_message(
        self, message_id: str, worker_id: str, *, lease_seconds: float = 60.0
    ) -> InboxRecord | None:
        now = self._now()
        with self._transaction() as cursor:
            cursor.execute(
                f"UPDATE inbox SET status = 'processing', lease_owner = %(worker)s, lease_until = %(until)s, "
                f"attempts = attempts + 1, updated_at = %(now)s WHERE message_id IN ("
                f"SELECT message_id FROM inbox WHERE message_id = %(id)s AND {_DUE} FOR UPDATE SKIP LOCKED) "
                f"RETURNING {_COLUMNS}",
                {
                    "worker": worker_id,
                    "until": now + timedelta(seconds=lease_seconds),
                    "now": now,
                    "id": message_id,
                },
            )
            row = cursor.fetchone()
        return _record(row) if row is not None else None

    def _finish(self, message_id: str, worker_id: str, assignments: str, params: dict[str, Any]) -> bool:
        with self._transaction() as cursor:
            cursor.execute(
                f"UPDATE inbox SET {assignments}, lease_owner = NULL, lease_until = NULL, updated_at = %(now)s "
                "WHERE message_id = %(id)s AND status = 'processing' AND lease_owner = %(worker)s",
                {"id": message_id, "worker": worker_id, "now": self._now(), **params},
            )
            return cursor.rowcount == 1

    def complete(self, message_id: str, worker_id: str) -> bool:
        return self._finish(message_id, worker_id, "status = 'done', next_attempt_at = NULL", {})

    def retry(self, message_id: str, worker_id: str, *, error: str, delay_seconds: float) -> bool:
        return self._finish(
            message_id,
            worker_id,
            "status = 'retrying', last_error = %(error)s, next_attempt_at = %(due)s",
            {"error": error, "due": self._now() + timedelta(seconds=delay_seconds)},
        )

    def fail(self, message_id: str, worker_id: str, *, error: str) -> bool:
        return self._finish(
            message_id,
            worker_id,
            "status = 'dead', last_error = %(error)s, next_attempt_at = NULL",
            {"error": error},
        )

    # -- looking ----------------------------------------------------------------------

    def _fetch(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._transaction() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def get(self, message_id: str) -> InboxRecord | None:
        rows = self._fetch(f"SELECT {_COLUMNS} FROM inbox WHERE message_id = %s", (message_id,))
        return _record(rows[0]) if rows else None

    def list(self, *, status: InboxStatus | None = None, limit: int = 100) -> builtins.list[InboxRecord]:
        if status is None:
            rows = self._fetch(f"SELECT {_COLUMNS} FROM inbox ORDER BY received_at DESC LIMIT %s", (limit,))
        else:
            rows = self._fetch(
                f"SELECT {_COLUMNS} FROM inbox WHERE status = %s ORDER BY received_at DESC LIMIT %s",
                (str(status), limit),
            )
        return [_record(r) for r in rows]

    def counts(self) -> dict[InboxStatus, int]:
        counts = dict.fromkeys(InboxStatus, 0)
        for row in self._fetch("SELECT status, COUNT(*) AS n FROM inbox GROUP BY status"):
            counts[InboxStatus(row["status"])] = row["n"]
        return counts

    def replay(self, message_id: str) -> bool:
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE inbox SET status = 'received', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, "
                "updated_at = %s WHERE message_id = %s AND status IN ('done', 'dead')",
                (self._now(), message_id),
            )
            return cursor.rowcount == 1

    def replay_status(self, status: InboxStatus) -> int:
        if status not in (InboxStatus.DONE, InboxStatus.DEAD):
            return 0
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE inbox SET status = 'received', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, "
                "updated_at = %s WHERE status = %s",
                (self._now(), str(status)),
            )
            return cursor.rowcount

    def purge(self, *, older_than: datetime) -> int:
        with self._transaction() as cursor:
            cursor.execute(
                "DELETE FROM actions WHERE message_id IN (SELECT message_id FROM inbox "
                "WHERE status IN ('done', 'dead') AND updated_at < %s)",
                (older_than,),
            )
            cursor.execute(
                "DELETE FROM inbox WHERE status IN ('done', 'dead') AND updated_at < %s", (older_than,)
            )
            return cursor.rowcount

    # -- action ledger ------------------------------------------------------------------

    def action_succeeded(self, message_id: str, action_key: str) -> bool:
        return bool(
            self._fetch(
                "SELECT 1 FROM actions WHERE message_id = %s AND action_key = %s", (message_id, action_key)
            )
        )

    def record_action(self, message_id: str, action_key: str) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO actions (message_id, action_key, done_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (message_id, action_key, self._now()),
            )

    def forget_actions(self, message_id: str) -> int:
        with self._transaction() as cursor:
            cursor.execute("DELETE FROM actions WHERE message_id = %s", (message_id,))
            return cursor.rowcount

    # -- subscriptions ------------------------------------------------------------------

    def record_subscription(self, event: SubscriptionEvent) -> SubscriptionRecord:
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO subscriptions (created_at, topic_arn, endpoint, state, message_id, subscription_arn, "
                "token, subscribe_url, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (self._now(), event.topic_arn, event.endpoint, str(event.state), event.message_id,
                 event.subscription_arn, event.token, event.subscribe_url, event.detail),
            )  # fmt: skip
            row = cursor.fetchone()
        assert row is not None
        return _subscription(row)

    def list_subscriptions(self) -> builtins.list[SubscriptionRecord]:
        return [_subscription(r) for r in self._fetch("SELECT * FROM subscriptions ORDER BY id DESC")]

    def get_subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        rows = self._fetch("SELECT * FROM subscriptions WHERE id = %s", (subscription_id,))
        return _subscription(rows[0]) if rows else None

    # -- lifecycle ----------------------------------------------------------------------

    def ping(self) -> None:
        self._fetch("SELECT 1 AS ok")

    def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (tests, uninstall)."""
        with self._transaction() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def close(self) -> None:
        if self._closed:
            return
        self._committer.close()
        self._closed = True
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"
