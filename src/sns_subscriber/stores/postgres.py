"""The shared inbox: PostgreSQL through psycopg 3 and a connection pool.

Any number of receivers and workers on any number of hosts can share one database. Inserts
of concurrent requests go out as one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
(group commit); claims use ``FOR UPDATE SKIP LOCKED`` so workers never wait on, or take, each
other's messages. Every single-statement operation runs in autocommit: the statement is its
own transaction, one round trip.

Outages are bounded: waiting for a connection gives up after ``timeout`` seconds with
``StoreUnavailableError``, and the pool keeps reconnecting in the background, so the store
works again as soon as the server does, without a restart.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import math
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from ..exceptions import ConfigurationError, StoreUnavailableError
from ._batching import GroupCommitter
from .base import (
    FINISHED_STATUSES,
    OPEN_STATUSES,
    SCHEMA_VERSION,
    SEARCH_SCAN_ROWS,
    SUMMARY_COLUMNS,
    ActionRecord,
    Clock,
    InboxRecord,
    InboxStats,
    InboxStatus,
    MessageFilter,
    MessagePage,
    MessageSummary,
    NewMessage,
    PageCursor,
    SubscriptionEvent,
    SubscriptionRecord,
    SubscriptionState,
    as_utc,
    build_stats,
    check_identifier,
    check_limit,
    check_new_message,
    check_page_limit,
    clean_text,
    escape_like,
    filter_clauses,
    keyset_clause,
    record_from_row,
    search_page,
    subscription_from_row,
    summary_from_row,
    utc_now,
    where_sql,
)

__all__ = ["PostgresStore"]

Connection = psycopg.Connection[tuple[Any, ...]]
_Params = Sequence[Any] | dict[str, Any] | None

# Entry i upgrades the schema to version i + 1. Placeholders name schema-qualified tables.
_MIGRATIONS: Final[tuple[tuple[LiteralString, ...], ...]] = (
    (
        """CREATE TABLE {inbox} (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            message_id text PRIMARY KEY,
            endpoint text NOT NULL,
            topic_arn text NOT NULL,
            message_type text NOT NULL,
            subject text,
            body bytea NOT NULL,
            raw_delivery boolean NOT NULL DEFAULT false,
            status text NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'processing', 'done', 'retrying', 'dead')),
            attempts integer NOT NULL DEFAULT 0,
            last_error text,
            received_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            next_attempt_at timestamptz,
            lease_owner text,
            lease_until timestamptz
        )""",
        # Claims walk this index oldest first and stop after LIMIT, however many done rows
        # the table holds.
        """CREATE INDEX inbox_pending ON {inbox} (received_at, seq)
            WHERE status IN ('received', 'retrying', 'processing')""",
        "CREATE INDEX inbox_status ON {inbox} (status, received_at, seq)",
        "CREATE INDEX inbox_received ON {inbox} (received_at, seq)",
        """CREATE TABLE {actions} (
            message_id text NOT NULL,
            action_key text NOT NULL,
            done_at timestamptz NOT NULL,
            PRIMARY KEY (message_id, action_key)
        )""",
        """CREATE TABLE {subscriptions} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic_arn text NOT NULL,
            endpoint text NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'confirmed', 'unsubscribed', 'failed')),
            message_id text NOT NULL,
            subscription_arn text,
            token text,
            subscribe_url text,
            detail text,
            created_at timestamptz NOT NULL
        )""",
    ),
    # The console: the producer the worker detected, and one index per filter of the
    # newest-first listings, so a filtered page walks an index instead of sorting. The
    # producer index is partial: a new message has no producer yet, so inserts skip it.
    (
        "ALTER TABLE {inbox} ADD COLUMN producer text",
        "CREATE INDEX inbox_endpoint ON {inbox} (endpoint, received_at, seq)",
        "CREATE INDEX inbox_topic ON {inbox} (topic_arn, received_at, seq)",
        "CREATE INDEX inbox_producer ON {inbox} (producer, received_at, seq) WHERE producer IS NOT NULL",
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

_STATEMENTS: Final[dict[str, LiteralString]] = {
    "create_versions": (
        "CREATE TABLE IF NOT EXISTS {versions} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"
    ),
    "current_version": "SELECT coalesce(max(version), 0) FROM {versions}",
    "record_version": "INSERT INTO {versions} (version, applied_at) VALUES (%s, %s)",
    "version_table_exists": "SELECT to_regclass(%s) IS NOT NULL",
    "insert_head": (
        "INSERT INTO {inbox} (message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, "
        "received_at, updated_at) VALUES "
    ),
    "insert_tail": " ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
    "claim": (
        "WITH picked AS ("
        " SELECT message_id FROM {inbox}"
        " WHERE status IN ('received', 'retrying', 'processing')"
        "   AND (status = 'received'"
        "        OR (status = 'retrying' AND next_attempt_at <= %(now)s)"
        "        OR (status = 'processing' AND lease_until <= %(now)s))"
        " ORDER BY received_at, seq"
        " LIMIT %(limit)s"
        " FOR UPDATE SKIP LOCKED)"
        " UPDATE {inbox} AS i"
        " SET status = 'processing', attempts = i.attempts + 1, lease_owner = %(owner)s,"
        "     lease_until = %(until)s, next_attempt_at = NULL, updated_at = %(now)s"
        " FROM picked WHERE i.message_id = picked.message_id"
        " RETURNING i.message_id, i.endpoint, i.topic_arn, i.message_type, i.subject, i.body, i.raw_delivery,"
        "   i.status, i.attempts, i.last_error, i.received_at, i.updated_at, i.next_attempt_at,"
        "   i.lease_owner, i.lease_until, i.seq"
    ),
    # A worker still holds a message while no other worker has claimed it since, even if
    # its lease ran out: finishing the work it did beats running the message again.
    "finish": (
        "UPDATE {inbox} SET status = %(status)s, last_error = coalesce(%(error)s, last_error),"
        " next_attempt_at = %(next_attempt_at)s, lease_owner = NULL, lease_until = NULL, updated_at = %(now)s,"
        " producer = coalesce(%(producer)s, producer)"
        " WHERE message_id = %(message_id)s AND status = 'processing' AND lease_owner = %(owner)s"
    ),
    "get": "SELECT " + _RECORD_COLUMNS + " FROM {inbox} WHERE message_id = %s",
    "list": "SELECT " + _RECORD_COLUMNS + " FROM {inbox} ORDER BY received_at DESC, seq DESC LIMIT %s",
    "list_status": (
        "SELECT "
        + _RECORD_COLUMNS
        + " FROM {inbox} WHERE status = %s ORDER BY received_at DESC, seq DESC LIMIT %s"
    ),
    "counts": "SELECT status, count(*) FROM {inbox} GROUP BY status",
    "replay": (
        "UPDATE {inbox} SET status = 'received', attempts = 0, next_attempt_at = NULL, lease_owner = NULL,"
        " lease_until = NULL, updated_at = %s WHERE message_id = %s AND status IN ('done', 'dead')"
    ),
    "replay_status": (
        "UPDATE {inbox} SET status = 'received', attempts = 0, next_attempt_at = NULL, lease_owner = NULL,"
        " lease_until = NULL, updated_at = %s WHERE status = %s"
    ),
    "purge": (
        "WITH gone AS (DELETE FROM {inbox} WHERE status IN ('done', 'dead') AND updated_at < %s"
        " RETURNING message_id),"
        " gone_actions AS (DELETE FROM {actions} AS a USING gone WHERE a.message_id = gone.message_id)"
        " SELECT count(*) FROM gone"
    ),
    "action_succeeded": "SELECT 1 FROM {actions} WHERE message_id = %s AND action_key = %s",
    "record_action": (
        "INSERT INTO {actions} (message_id, action_key, done_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (message_id, action_key) DO NOTHING"
    ),
    "forget_actions": "DELETE FROM {actions} WHERE message_id = %s",
    "record_subscription": (
        "INSERT INTO {subscriptions} (topic_arn, endpoint, state, message_id, subscription_arn, token,"
        " subscribe_url, detail, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
    ),
    "list_subscriptions": "SELECT " + _SUBSCRIPTION_COLUMNS + " FROM {subscriptions} ORDER BY id DESC",
    "get_subscription": "SELECT " + _SUBSCRIPTION_COLUMNS + " FROM {subscriptions} WHERE id = %s",
    "ping": "SELECT 1",
    "list_actions": (
        "SELECT message_id, action_key, done_at FROM {actions} WHERE message_id = ANY(%s)"
        " ORDER BY done_at, message_id, action_key"
    ),
    "stats_total": "SELECT count(*) FROM (SELECT 1 FROM {inbox} WHERE status = %s LIMIT %s) AS t",
    "stats_open": (
        "SELECT endpoint, topic_arn, count(*), max(received_at) FROM (SELECT endpoint, topic_arn, received_at"
        " FROM {inbox} WHERE status = %s ORDER BY received_at DESC LIMIT %s) AS t GROUP BY endpoint, topic_arn"
    ),
    "stats_sample": (
        "SELECT endpoint, topic_arn, status, count(*), max(received_at) FROM (SELECT endpoint, topic_arn,"
        " status, received_at FROM {inbox} ORDER BY received_at DESC, seq DESC LIMIT %s) AS t"
        " GROUP BY endpoint, topic_arn, status"
    ),
    "stats_traffic": (
        "SELECT count(*) FROM (SELECT 1 FROM {inbox} WHERE received_at >= %s AND received_at < %s LIMIT %s) AS t"
    ),
}
_ROW_PLACEHOLDERS: Final = sql.SQL("(%s, %s, %s, %s, %s, %s, %s, %s, %s)")

# Server states that mean "not now", not "wrong SQL": connection loss, shutdown, too many
# connections, serialization failure (all OperationalError), and a read-only standby after
# a failover.
_UNAVAILABLE: Final = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction)

# A pooled connection idle for longer than this is checked before use: a server restart
# kills idle connections silently, and the check costs one round trip.
_CHECK_AFTER_IDLE: Final = 1.0


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _record(row: Sequence[Any]) -> InboxRecord:
    return record_from_row(row, _utc)


def _subscription(row: Sequence[Any]) -> SubscriptionRecord:
    return subscription_from_row(row, _utc)


def _summary(row: Sequence[Any]) -> MessageSummary:
    return summary_from_row(row, _utc)


class PostgresStore:
    """The inbox in PostgreSQL, in its own ``schema`` (created if missing).

    ``connect_timeout``: seconds an operation waits for a connection before reporting the
    store unavailable (also libpq's connect timeout, which it rounds up to 2 s).
    ``reconnect_timeout``: bounds the pool's back-off between reconnection attempts during
    an outage, and so how long recovery can lag behind the server's return.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "sns_subscriber",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 2.0,
        reconnect_timeout: float = 5.0,
        max_batch: int = 256,
        application_name: str = "sns-subscriber",
        clock: Clock | None = None,
    ) -> None:
        self._schema = check_identifier(schema, "PostgreSQL schema")
        self._timeout = connect_timeout
        self._clock = clock or utc_now
        self._conninfo = _conninfo(url, timeout=connect_timeout, application_name=application_name)
        self._statements = self._compose(schema)
        self._insert_cache: dict[int, sql.Composed] = {}
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"sns_subscriber.migrate:{schema}".encode()).digest()[:8], "big", signed=True
        )
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            self._conninfo,
            min_size=min_size,
            max_size=max(min_size, max_size),
            kwargs={"autocommit": True},
            open=False,
            timeout=connect_timeout,
            reconnect_timeout=reconnect_timeout,
            name=f"sns-subscriber:{schema}",
        )
        # Opening does not wait for the server: connections are made in the background.
        self._pool.open(wait=False)
        self._last_used: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
        self._last_used_lock = threading.Lock()
        self._committer: GroupCommitter[NewMessage] = GroupCommitter(
            self._insert_batch,
            max_batch=max_batch,
            weigh=lambda item: len(item.body),
            name=f"sns-postgres-commit:{schema}",
        )
        self._close_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._schema!r})"

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def schema(self) -> str:
        return self._schema

    @staticmethod
    def _compose(schema: str) -> dict[str, sql.Composed]:
        tables = {
            "inbox": sql.Identifier(schema, "inbox"),
            "actions": sql.Identifier(schema, "inbox_actions"),
            "subscriptions": sql.Identifier(schema, "subscriptions"),
            "versions": sql.Identifier(schema, "schema_version"),
        }
        composed = {name: sql.SQL(text).format(**tables) for name, text in _STATEMENTS.items()}
        for version, statements in enumerate(_MIGRATIONS, start=1):
            for index, text in enumerate(statements):
                composed[f"migration:{version}:{index}"] = sql.SQL(text).format(**tables)
        return composed

    # -- connections ------------------------------------------------------------------------

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except PoolClosed as exc:
            raise StoreUnavailableError("the store is closed") from exc
        except PoolTimeout as exc:
            raise StoreUnavailableError(
                f"PostgreSQL store unavailable: no connection within {self._timeout:g} s "
                "(the 'psycopg.pool' log says why)"
            ) from exc
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"PostgreSQL store unavailable: {exc}") from exc

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A live pooled connection, within ``timeout``; errors are translated."""
        with self._translated():
            deadline = time.monotonic() + self._timeout
            while True:
                conn = self._pool.getconn(timeout=max(deadline - time.monotonic(), 0.001))
                if self._alive(conn):
                    break
                # Dead (server restarted): the pool discards it and reconnects in the background.
                self._pool.putconn(conn)
                if time.monotonic() >= deadline:
                    raise PoolTimeout()
            try:
                yield conn
            finally:
                with self._last_used_lock:
                    self._last_used[conn] = time.monotonic()
                self._pool.putconn(conn)

    def _alive(self, conn: Connection) -> bool:
        with self._last_used_lock:
            last_used = self._last_used.get(conn, 0.0)
        if time.monotonic() - last_used < _CHECK_AFTER_IDLE:
            return True
        try:
            conn.execute("")
        except psycopg.OperationalError:
            return False
        return True

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # Results are read before the connection goes back to the pool.

    def _fetchall(self, name: str, params: _Params = None) -> builtins.list[tuple[Any, ...]]:
        with self._connection() as conn:
            return conn.execute(self._statements[name], params).fetchall()

    def _fetchone(self, name: str, params: _Params = None) -> tuple[Any, ...] | None:
        with self._connection() as conn:
            return conn.execute(self._statements[name], params).fetchone()

    def _rowcount(self, name: str, params: _Params = None) -> int:
        with self._connection() as conn:
            return conn.execute(self._statements[name], params).rowcount

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> None:
        try:
            with self._connection() as conn, conn.transaction():
                # Two processes starting together take turns; the second finds nothing to do.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                exists = conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self._schema,)
                ).fetchone()
                if exists is None:
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self._schema)))
                conn.execute(self._statements["create_versions"])
                row = conn.execute(self._statements["current_version"]).fetchone()
                current = int(row[0]) if row else 0
                if current > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"PostgreSQL schema {self._schema} has schema version {current}, newer than this "
                        f"sns-subscriber understands ({SCHEMA_VERSION}); upgrade sns-subscriber",
                        value=str(current),
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for index in range(len(_MIGRATIONS[version - 1])):
                        conn.execute(self._statements[f"migration:{version}:{index}"])
                    conn.execute(self._statements["record_version"], (version, self._now()))
        except StoreUnavailableError as exc:
            if isinstance(exc.__cause__, PoolTimeout):
                self._explain_unreachable()
            raise

    def _explain_unreachable(self) -> None:
        # At start-up, say why the server is unreachable (refused, bad password, no such
        # database) instead of only "no connection within 2 s".
        try:
            psycopg.connect(self._conninfo).close()
        except psycopg.Error as probe:
            raise StoreUnavailableError(f"PostgreSQL store unavailable: {probe}") from probe

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before :meth:`migrate`)."""
        table = f"{self._schema}.schema_version"
        with self._connection() as conn:
            row = conn.execute(self._statements["version_table_exists"], (table,)).fetchone()
            if not row or not row[0]:
                return 0
            row = conn.execute(self._statements["current_version"]).fetchone()
        return int(row[0]) if row else 0

    # -- receiving ------------------------------------------------------------------------------

    def submit(self, item: NewMessage) -> Future[bool]:
        return self._committer.submit(check_new_message(item))

    def submit_async(self, item: NewMessage) -> asyncio.Future[bool]:
        return self._committer.submit_async(check_new_message(item))

    def add(self, item: NewMessage) -> bool:
        return self.submit(item).result()

    def _insert_statement(self, rows: int) -> sql.Composed:
        statement = self._insert_cache.get(rows)
        if statement is None:
            statement = sql.Composed(
                [
                    self._statements["insert_head"],
                    sql.SQL(", ").join([_ROW_PLACEHOLDERS] * rows),
                    self._statements["insert_tail"],
                ]
            )
            self._insert_cache[rows] = statement
        return statement

    def _insert_batch(self, items: Sequence[NewMessage]) -> list[bool]:
        # One row per MessageId: the first occurrence in the batch is the one that can be new.
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.message_id, index)
        unique = [items[index] for index in first.values()]
        now = self._now()
        params: list[Any] = []
        for item in unique:
            params += (
                item.message_id,
                item.endpoint,
                item.topic_arn,
                item.message_type,
                item.subject,
                item.body,
                item.raw_delivery,
                now,
                now,
            )
        with self._connection() as conn:
            # One statement in autocommit: it is its own transaction, committed (and durable,
            # with the default synchronous_commit) when execute returns.
            inserted = {row[0] for row in conn.execute(self._insert_statement(len(unique)), params)}
        return [
            first[item.message_id] == index and item.message_id in inserted
            for index, item in enumerate(items)
        ]

    # -- processing -------------------------------------------------------------------------------

    def claim(
        self, worker_id: str, *, limit: int = 10, lease_seconds: float = 60.0
    ) -> builtins.list[InboxRecord]:
        if check_limit(limit) == 0:
            return []
        now = self._now()
        params = {
            "owner": worker_id,
            "until": now + timedelta(seconds=lease_seconds),
            "now": now,
            "limit": limit,
        }
        rows = self._fetchall("claim", params)
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
        now = self._now()
        params = {
            "producer": producer,
            "status": status.value,
            "error": clean_text(error),
            "next_attempt_at": next_attempt_at,
            "now": now,
            "message_id": message_id,
            "owner": worker_id,
        }
        if not actions:  # one statement in autocommit is its own transaction
            return self._rowcount("finish", params) == 1
        with self._connection() as conn, conn.transaction():
            with conn.cursor() as cursor:
                cursor.executemany(
                    self._statements["record_action"], [(message_id, key, now) for key in actions]
                )
            return conn.execute(self._statements["finish"], params).rowcount == 1

    def complete(
        self, message_id: str, worker_id: str, *, actions: Sequence[str] = (), producer: str | None = None
    ) -> bool:
        return self._finish(message_id, worker_id, InboxStatus.DONE, actions=actions, producer=producer)

    def retry(
        self,
        message_id: str,
        worker_id: str,
        *,
        error: str,
        delay_seconds: float,
        producer: str | None = None,
    ) -> bool:
        due = self._now() + timedelta(seconds=max(0.0, delay_seconds))
        return self._finish(
            message_id, worker_id, InboxStatus.RETRYING, error=error, next_attempt_at=due, producer=producer
        )

    def fail(self, message_id: str, worker_id: str, *, error: str, producer: str | None = None) -> bool:
        return self._finish(message_id, worker_id, InboxStatus.DEAD, error=error, producer=producer)

    # -- inspecting and administering ---------------------------------------------------------------

    def get(self, message_id: str) -> InboxRecord | None:
        row = self._fetchone("get", (message_id,))
        return None if row is None else _record(row)

    def list(self, *, status: InboxStatus | None = None, limit: int = 100) -> builtins.list[InboxRecord]:
        check_limit(limit)
        if status is None:
            rows = self._fetchall("list", (limit,))
        else:
            rows = self._fetchall("list_status", (InboxStatus(status).value, limit))
        return [_record(row) for row in rows]

    def counts(self) -> dict[InboxStatus, int]:
        counts = dict.fromkeys(InboxStatus, 0)
        counts.update({InboxStatus(status): count for status, count in self._fetchall("counts")})
        return counts

    def replay(self, message_id: str) -> bool:
        return self._rowcount("replay", (self._now(), message_id)) == 1

    def replay_status(self, status: InboxStatus) -> int:
        if InboxStatus(status) not in FINISHED_STATUSES:
            return 0
        return self._rowcount("replay_status", (self._now(), status.value))

    def purge(self, *, older_than: datetime) -> int:
        row = self._fetchone("purge", (as_utc(older_than),))
        return int(row[0]) if row else 0

    # -- action ledger ----------------------------------------------------------------------------------

    def action_succeeded(self, message_id: str, action_key: str) -> bool:
        return self._fetchone("action_succeeded", (message_id, action_key)) is not None

    def record_action(self, message_id: str, action_key: str) -> None:
        self._rowcount("record_action", (message_id, action_key, self._now()))

    def forget_actions(self, message_id: str) -> int:
        return self._rowcount("forget_actions", (message_id,))

    # -- console reads ------------------------------------------------------------------------------

    def _query(self, text: LiteralString) -> sql.Composed:
        # Only module constants and this store's table names go into the text: values are
        # always parameters.
        return sql.SQL(text).format(
            inbox=sql.Identifier(self._schema, "inbox"), actions=sql.Identifier(self._schema, "inbox_actions")
        )

    def find_messages(
        self, where: MessageFilter, *, limit: int = 50, after: PageCursor | None = None
    ) -> MessagePage:
        check_page_limit(limit)
        clauses, params = filter_clauses(where, mark="%s", ts=as_utc, like="ILIKE", subject=False)
        keyset, keyset_params = keyset_clause(after, mark="%s", ts=as_utc)
        if keyset:
            clauses.append(keyset)
            params += keyset_params
        order = " ORDER BY received_at DESC, seq DESC LIMIT %s"
        with self._connection() as conn:
            if not where.subject_contains:
                rows = conn.execute(
                    self._query(f"SELECT {SUMMARY_COLUMNS} FROM {{inbox}}{where_sql(clauses)}{order}"),
                    [*params, limit + 1],
                ).fetchall()
                more = len(rows) > limit
                rows = rows[:limit]
                cursor = PageCursor(_utc(rows[-1][9]), rows[-1][11]) if more else None
                return MessagePage([_summary(row) for row in rows], cursor)
            # A substring search cannot use an index: examine a bounded window per page.
            pattern = f"%{escape_like(where.subject_contains)}%"
            window = conn.execute(
                self._query(
                    "SELECT message_id, received_at, seq, coalesce(subject, '') ILIKE %s ESCAPE '\\' "
                    f"FROM {{inbox}}{where_sql(clauses)}{order}"
                ),
                [pattern, *params, SEARCH_SCAN_ROWS],
            ).fetchall()
            hits, cursor = search_page(window, limit, SEARCH_SCAN_ROWS, _utc)
            rows = conn.execute(
                self._query(f"SELECT {SUMMARY_COLUMNS} FROM {{inbox}} WHERE message_id = ANY(%s)"), [hits]
            ).fetchall()
        rows.sort(key=lambda row: (row[9], row[11]), reverse=True)
        return MessagePage([_summary(row) for row in rows], cursor)

    def replay_matching(self, where: MessageFilter, *, force: bool = False) -> int:
        if where.status is not None and InboxStatus(where.status) not in FINISHED_STATUSES:
            return 0
        clauses, params = filter_clauses(where, mark="%s", ts=as_utc, like="ILIKE")
        clauses.append("status IN ('done', 'dead')")
        condition = where_sql(clauses)
        update = self._query(
            "UPDATE {inbox} SET status = 'received', attempts = 0, next_attempt_at = NULL, lease_owner = NULL,"
            f" lease_until = NULL, updated_at = %s{condition}"
        )
        with self._connection() as conn, conn.transaction():
            if force:
                conn.execute(
                    self._query(
                        f"DELETE FROM {{actions}} WHERE message_id IN (SELECT message_id FROM {{inbox}}{condition})"
                    ),
                    params,
                )
            return conn.execute(update, [self._now(), *params]).rowcount

    def list_actions(self, message_ids: Sequence[str]) -> builtins.list[ActionRecord]:
        rows = self._fetchall("list_actions", (list(dict.fromkeys(message_ids)),))
        return [ActionRecord(message_id=row[0], action_key=row[1], done_at=_utc(row[2])) for row in rows]

    def stats(
        self,
        *,
        until: datetime,
        window: timedelta = timedelta(hours=24),
        buckets: int = 24,
        sample: int = 10_000,
        cap: int = 100_000,
    ) -> InboxStats:
        until = as_utc(until)
        since = until - window
        step = window / buckets
        with self._connection() as conn:
            totals: dict[InboxStatus, int] = {}
            for status in InboxStatus:
                row = conn.execute(self._statements["stats_total"], (status.value, cap)).fetchone()
                totals[status] = int(row[0]) if row else 0
            open_rows = [
                (endpoint, topic, status, count, _utc(newest))
                for status in OPEN_STATUSES
                for endpoint, topic, count, newest in conn.execute(
                    self._statements["stats_open"], (status.value, cap)
                ).fetchall()
            ]
            sample_rows = [
                (endpoint, topic, InboxStatus(status), count, _utc(newest))
                for endpoint, topic, status, count, newest in conn.execute(
                    self._statements["stats_sample"], (sample,)
                ).fetchall()
            ]
            traffic = []
            for index in range(buckets):
                row = conn.execute(
                    self._statements["stats_traffic"], (since + step * index, since + step * (index + 1), cap)
                ).fetchone()
                traffic.append(int(row[0]) if row else 0)
        return build_stats(
            totals=totals, open_rows=open_rows, sample_rows=sample_rows, traffic=traffic,
            since=since, until=until, sample=sample, cap=cap,
        )  # fmt: skip

    # -- subscriptions ------------------------------------------------------------------------------------

    def record_subscription(self, event: SubscriptionEvent) -> SubscriptionRecord:
        created_at = self._now()
        detail = clean_text(event.detail)
        state = SubscriptionState(event.state)
        row = self._fetchone(
            "record_subscription",
            (
                event.topic_arn,
                event.endpoint,
                state.value,
                event.message_id,
                event.subscription_arn,
                event.token,
                event.subscribe_url,
                detail,
                created_at,
            ),
        )
        assert row is not None
        return SubscriptionRecord(
            id=row[0],
            created_at=created_at,
            topic_arn=event.topic_arn,
            endpoint=event.endpoint,
            state=state,
            message_id=event.message_id,
            subscription_arn=event.subscription_arn,
            token=event.token,
            subscribe_url=event.subscribe_url,
            detail=detail,
        )

    def list_subscriptions(self) -> builtins.list[SubscriptionRecord]:
        return [_subscription(row) for row in self._fetchall("list_subscriptions")]

    def get_subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        row = self._fetchone("get_subscription", (subscription_id,))
        return None if row is None else _subscription(row)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def ping(self) -> None:
        self._fetchone("ping")

    def drop_schema(self) -> None:
        """Drop the schema with everything in it (tests, uninstalling); never ``public``."""
        if self._schema == "public":
            raise ConfigurationError("refusing to drop the public schema", value=self._schema)
        with self._connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self._schema)))

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._committer.close()
        self._pool.close()


def _conninfo(url: str, *, timeout: float, application_name: str) -> str:
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        # The URL may hold a password: name the problem, not the value.
        raise ConfigurationError(f"invalid PostgreSQL store URL: {exc}") from exc
    # Defaults that keep an outage short; anything the URL sets wins.
    defaults: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(timeout)),
        "application_name": application_name,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    return make_conninfo(url, **{key: value for key, value in defaults.items() if key not in given})
