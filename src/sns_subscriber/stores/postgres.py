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

import builtins
import hashlib
import math
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, LiteralString

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from ..exceptions import ConfigurationError, StoreUnavailableError
from ..redaction import redact_urls_in
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
    check_identifier,
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
    # 2: alerts waiting for a recipient's daily or weekly digest.
    (
        """CREATE TABLE {digest} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            recipient text NOT NULL,
            message_id text NOT NULL,
            due_at timestamptz NOT NULL,
            payload text NOT NULL,
            created_at timestamptz NOT NULL,
            claimed_by text,
            claim_until timestamptz,
            sent_at timestamptz,
            UNIQUE (recipient, message_id)
        )""",
        "CREATE INDEX digest_items_due ON {digest} (due_at, id) WHERE sent_at IS NULL",
    ),
    # 3: messages a queue poller or dlq drain refused, left in their queue.
    (
        """CREATE TABLE {rejections} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source text NOT NULL,
            message_id text NOT NULL,
            reason text NOT NULL,
            created_at timestamptz NOT NULL
        )""",
    ),
    # 4: statuses 'test' and 'stale'; the newest state change processed per alarm.
    (
        "ALTER TABLE {inbox} DROP CONSTRAINT inbox_status_check",
        """ALTER TABLE {inbox} ADD CONSTRAINT inbox_status_check
            CHECK (status IN ('received', 'processing', 'done', 'retrying', 'dead', 'test', 'stale'))""",
        """CREATE TABLE {alarm_states} (
            alarm_key text PRIMARY KEY,
            state text NOT NULL,
            state_change_time timestamptz NOT NULL,
            message_id text NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
    ),
    # 5: operational alerts, and signature failures (403s) per endpoint and minute.
    (
        """CREATE TABLE {alerts} (
            kind text NOT NULL,
            key text NOT NULL,
            state text NOT NULL CHECK (state IN ('open', 'resolved')),
            detail text NOT NULL,
            opened_at timestamptz NOT NULL,
            notified_at timestamptz,
            resolved_at timestamptz,
            notifications integer NOT NULL DEFAULT 0,
            PRIMARY KEY (kind, key)
        )""",
        """CREATE TABLE {signature_failures} (
            endpoint text NOT NULL,
            minute timestamptz NOT NULL,
            count integer NOT NULL,
            PRIMARY KEY (endpoint, minute)
        )""",
    ),
    # 6: the console: the producer the worker detected, and one index per filter of the
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
_ALERT_COLUMNS: Final = "kind, key, state, detail, opened_at, notified_at, resolved_at, notifications"
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
    "defer": (
        "UPDATE {inbox} SET status = 'retrying', attempts = greatest(attempts - 1, 0), last_error = %(error)s,"
        " next_attempt_at = %(next_attempt_at)s, lease_owner = NULL, lease_until = NULL, updated_at = %(now)s"
        " WHERE message_id = %(message_id)s AND status = 'processing' AND lease_owner = %(owner)s"
    ),
    "digest_add": (
        "INSERT INTO {digest} (recipient, message_id, due_at, payload, created_at)"
        " VALUES (%(recipient)s, %(message_id)s, %(due_at)s, %(payload)s, %(now)s)"
        " ON CONFLICT (recipient, message_id) DO NOTHING"
    ),
    # Claims are serialised by a transaction-level advisory lock (see claim_digest), so two
    # senders can neither share a recipient's items nor split them into two digests.
    "digest_claim": (
        "WITH one AS (SELECT recipient FROM {digest} WHERE sent_at IS NULL AND due_at <= %(due)s"
        "   AND (claimed_by IS NULL OR claim_until < %(now)s) ORDER BY due_at, id LIMIT 1),"
        " picked AS (SELECT d.id FROM {digest} AS d JOIN one ON d.recipient = one.recipient"
        "   WHERE d.sent_at IS NULL AND d.due_at <= %(due)s AND (d.claimed_by IS NULL OR d.claim_until < %(now)s)"
        "   ORDER BY d.id LIMIT %(limit)s)"
        " UPDATE {digest} AS d SET claimed_by = %(owner)s, claim_until = %(until)s FROM picked"
        " WHERE d.id = picked.id RETURNING d.id, d.recipient, d.message_id, d.due_at, d.payload"
    ),
    "digest_sent": (
        "UPDATE {digest} SET sent_at = %(now)s, claimed_by = NULL, claim_until = NULL"
        " WHERE claimed_by = %(owner)s AND sent_at IS NULL AND id = ANY(%(ids)s)"
    ),
    "digest_release": (
        "UPDATE {digest} SET claimed_by = NULL, claim_until = NULL"
        " WHERE claimed_by = %(owner)s AND sent_at IS NULL AND id = ANY(%(ids)s)"
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
    # One batch of retention; SKIP LOCKED leaves rows a replay is changing right now alone.
    "purge_batch": (
        "WITH picked AS ("
        " SELECT message_id FROM {inbox}"
        " WHERE ((status IN ('done', 'test', 'stale') AND updated_at < %(done)s)"
        "        OR (status = 'dead' AND updated_at < %(dead)s))"
        "   AND received_at < %(notifications)s"
        "   AND (message_type = 'Notification' OR received_at < %(confirmations)s)"
        " LIMIT %(limit)s FOR UPDATE SKIP LOCKED),"
        " gone AS (DELETE FROM {inbox} AS i USING picked WHERE i.message_id = picked.message_id"
        " RETURNING i.message_id),"
        " gone_actions AS (DELETE FROM {actions} AS a USING gone WHERE a.message_id = gone.message_id)"
        " SELECT count(*) FROM gone"
    ),
    "stats": "SELECT status, count(*), min(received_at) FROM {inbox} GROUP BY status",
    "database_bytes": (
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'"
    ),
    "last_received": "SELECT max(received_at) FROM {inbox} WHERE received_at >= %s AND endpoint = %s",
    "oldest_unclaimed": (
        "SELECT received_at FROM {inbox} WHERE status IN ('received', 'retrying', 'processing')"
        " AND status = 'received' ORDER BY received_at, seq LIMIT 1"
    ),
    "open_alert": (
        "INSERT INTO {alerts} AS a (kind, key, state, detail, opened_at, notified_at, resolved_at, notifications)"
        " VALUES (%(kind)s, %(key)s, 'open', %(detail)s, %(now)s, %(now)s, NULL, 1)"
        " ON CONFLICT (kind, key) DO UPDATE SET state = 'open', detail = excluded.detail,"
        " opened_at = excluded.opened_at, notified_at = excluded.notified_at, resolved_at = NULL, notifications = 1"
        " WHERE a.state = 'resolved'"
        " RETURNING 1"
    ),
    "claim_reminder": (
        "UPDATE {alerts} SET notified_at = %(now)s, notifications = notifications + 1"
        " WHERE kind = %(kind)s AND key = %(key)s AND state = 'open'"
        " AND (notified_at IS NULL OR notified_at < %(before)s)"
        " RETURNING " + _ALERT_COLUMNS
    ),
    "resolve_alert": (
        "UPDATE {alerts} SET state = 'resolved', resolved_at = %(now)s"
        " WHERE kind = %(kind)s AND key = %(key)s AND state = 'open'"
        " RETURNING " + _ALERT_COLUMNS
    ),
    "alert_unsent": "UPDATE {alerts} SET notified_at = NULL WHERE kind = %s AND key = %s",
    "list_alerts": "SELECT " + _ALERT_COLUMNS + " FROM {alerts} ORDER BY opened_at, kind, key",
    "list_open_alerts": (
        "SELECT " + _ALERT_COLUMNS + " FROM {alerts} WHERE state = 'open' ORDER BY opened_at, kind, key"
    ),
    "add_signature_failures": (
        "INSERT INTO {signature_failures} AS r (endpoint, minute, count) VALUES (%s, %s, %s)"
        " ON CONFLICT (endpoint, minute) DO UPDATE SET count = r.count + excluded.count"
    ),
    "count_signature_failures": "SELECT endpoint, sum(count) FROM {signature_failures} WHERE minute >= %s GROUP BY endpoint",
    "prune_signature_failures": "DELETE FROM {signature_failures} WHERE minute < %s",
    "alarm_state_for_update": "SELECT state FROM {alarm_states} WHERE alarm_key = %s FOR UPDATE",
    # Applied only if no newer change was recorded meanwhile: no row back means stale.
    "record_alarm": (
        "INSERT INTO {alarm_states} AS a (alarm_key, state, state_change_time, message_id, updated_at)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (alarm_key) DO UPDATE SET state = excluded.state,"
        " state_change_time = excluded.state_change_time, message_id = excluded.message_id,"
        " updated_at = excluded.updated_at WHERE a.state_change_time <= excluded.state_change_time"
        " RETURNING 1"
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
    "latest_subscription_event": (
        "SELECT "
        + _SUBSCRIPTION_COLUMNS
        + " FROM {subscriptions} WHERE message_id = %s ORDER BY id DESC LIMIT 1"
    ),
    "subscription_standing": (
        "SELECT " + _SUBSCRIPTION_COLUMNS + " FROM {subscriptions} WHERE topic_arn = %s AND endpoint = %s"
        " AND state IN ('confirmed', 'unsubscribed') ORDER BY id DESC LIMIT 1"
    ),
    "ping": "SELECT 1",
    "record_rejection": (
        "WITH added AS (INSERT INTO {rejections} (source, message_id, reason, created_at)"
        " VALUES (%s, %s, %s, %s) RETURNING id)"
        " DELETE FROM {rejections} WHERE id <= (SELECT id FROM added) - %s"
    ),
    "list_rejections": (
        "SELECT id, source, message_id, reason, created_at FROM {rejections} ORDER BY id DESC LIMIT %s"
    ),
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


class PostgresStore(SQLStore):
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
        max_pending: int = DEFAULT_MAX_PENDING,
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
            max_pending=max_pending,
            name=f"sns-postgres-commit:{schema}",
        )
        self._close_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._schema!r})"

    @property
    def schema(self) -> str:
        return self._schema

    @staticmethod
    def _compose(schema: str) -> dict[str, sql.Composed]:
        tables = {
            "inbox": sql.Identifier(schema, "inbox"),
            "actions": sql.Identifier(schema, "inbox_actions"),
            "subscriptions": sql.Identifier(schema, "subscriptions"),
            "digest": sql.Identifier(schema, "digest_items"),
            "rejections": sql.Identifier(schema, "rejections"),
            "versions": sql.Identifier(schema, "schema_version"),
            "alarm_states": sql.Identifier(schema, "alarm_states"),
            "alerts": sql.Identifier(schema, "alerts"),
            "signature_failures": sql.Identifier(schema, "signature_failures"),
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
            raise StoreUnavailableError(f"PostgreSQL store unavailable: {redact_urls_in(str(exc))}") from exc

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
            raise StoreUnavailableError(
                f"PostgreSQL store unavailable: {redact_urls_in(str(probe))}"
            ) from probe

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

    def defer(self, message_id: str, worker_id: str, *, reason: str, delay_seconds: float) -> bool:
        now = self._now()
        params = {
            "error": clean_text(reason),
            "next_attempt_at": now + timedelta(seconds=max(0.0, delay_seconds)),
            "now": now,
            "message_id": message_id,
            "owner": worker_id,
        }
        return self._rowcount("defer", params) == 1

    def record_alarm_state(
        self, alarm_key: str, *, state: str, changed_at: datetime, message_id: str
    ) -> AlarmTransition:
        params = (alarm_key, state, as_utc(changed_at), message_id, self._now())
        with self._connection() as conn, conn.transaction():
            # The row lock makes two workers recording the same alarm take turns.
            row = conn.execute(self._statements["alarm_state_for_update"], (alarm_key,)).fetchone()
            previous = None if row is None else str(row[0])
            applied = conn.execute(self._statements["record_alarm"], params).fetchone()
        return AlarmTransition(stale=applied is None, previous_state=previous)

    # -- inspecting and administering ---------------------------------------------------------------

    # -- digests ------------------------------------------------------------------------------

    def add_digest_item(self, item: DigestItem) -> bool:
        params = {
            "recipient": item.recipient,
            "message_id": item.message_id,
            "due_at": item.due_at,
            "payload": item.payload,
            "now": self._now(),
        }
        return self._rowcount("digest_add", params) == 1

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
        params = {
            "due": now if due_by is None else due_by,
            "now": now,
            "owner": worker_id,
            "until": now + timedelta(seconds=lease_seconds),
            "limit": limit,
        }
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key ^ 0x5D16E57,))
            rows = conn.execute(self._statements["digest_claim"], params).fetchall()
        items = [
            DigestItem(id=r[0], recipient=r[1], message_id=r[2], due_at=r[3], payload=r[4]) for r in rows
        ]
        return sorted(items, key=lambda item: item.id or 0)

    def finish_digest(self, worker_id: str, ids: Sequence[int], *, sent: bool) -> int:
        if not ids:
            return 0
        params = {"now": self._now(), "owner": worker_id, "ids": list(ids)}
        return self._rowcount("digest_sent" if sent else "digest_release", params)

    def get(self, message_id: str) -> InboxRecord | None:
        row = self._fetchone("get", (message_id,))
        return None if row is None else _record(row)

    def list_messages(
        self, *, status: InboxStatus | None = None, limit: int = 100
    ) -> builtins.list[InboxRecord]:
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

    def purge_batch(self, cutoffs: PurgeCutoffs, *, limit: int = 500) -> int:
        if check_limit(limit) == 0:
            return 0
        params = {
            "done": as_utc(cutoffs.done_before),
            "dead": as_utc(cutoffs.dead_before),
            "notifications": as_utc(cutoffs.notification_tombstones_since),
            "confirmations": as_utc(cutoffs.confirmation_tombstones_since),
            "limit": limit,
        }
        row = self._fetchone("purge_batch", params)
        return int(row[0]) if row else 0

    def stats(self) -> InboxStats:
        counts = dict.fromkeys(InboxStatus, 0)
        oldest: dict[InboxStatus, datetime | None] = dict.fromkeys(InboxStatus, None)
        for status, count, first in self._fetchall("stats"):
            counts[InboxStatus(status)] = count
            oldest[InboxStatus(status)] = _utc(first)
        return InboxStats(counts=counts, oldest=oldest, database_bytes=self.database_bytes())

    def last_received(self, endpoint: str, *, since: datetime) -> datetime | None:
        row = self._fetchone("last_received", (as_utc(since), endpoint))
        return None if row is None or row[0] is None else _utc(row[0])

    def database_bytes(self) -> int:
        row = self._fetchone("database_bytes", (self._schema,))
        return int(row[0]) if row else 0

    def oldest_unclaimed(self) -> datetime | None:
        row = self._fetchone("oldest_unclaimed")
        return None if row is None else _utc(row[0])

    # -- alerts ------------------------------------------------------------------------------

    def open_alert(self, kind: str, key: str, *, detail: str, now: datetime) -> bool:
        params = {"kind": kind, "key": key, "detail": clean_text(detail), "now": as_utc(now)}
        return self._fetchone("open_alert", params) is not None

    def claim_reminder(
        self, kind: str, key: str, *, now: datetime, last_before: datetime
    ) -> AlertRecord | None:
        params = {"kind": kind, "key": key, "now": as_utc(now), "before": as_utc(last_before)}
        row = self._fetchone("claim_reminder", params)
        return None if row is None else alert_from_row(row, _utc)

    def resolve_alert(self, kind: str, key: str, *, now: datetime) -> AlertRecord | None:
        row = self._fetchone("resolve_alert", {"kind": kind, "key": key, "now": as_utc(now)})
        return None if row is None else alert_from_row(row, _utc)

    def alert_unsent(self, kind: str, key: str) -> None:
        self._rowcount("alert_unsent", (kind, key))

    def list_alerts(self, *, open_only: bool = True) -> builtins.list[AlertRecord]:
        rows = self._fetchall("list_open_alerts" if open_only else "list_alerts")
        return [alert_from_row(row, _utc) for row in rows]

    def add_signature_failures(self, endpoint: str, minute: datetime, count: int) -> None:
        self._rowcount("add_signature_failures", (endpoint, as_utc(minute), count))

    def count_signature_failures(self, since: datetime) -> dict[str, int]:
        return {
            endpoint: int(total)
            for endpoint, total in self._fetchall("count_signature_failures", (as_utc(since),))
        }

    def prune_signature_failures(self, before: datetime) -> int:
        return self._rowcount("prune_signature_failures", (as_utc(before),))

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

    def latest_subscription_event(self, message_id: str) -> SubscriptionRecord | None:
        row = self._fetchone("latest_subscription_event", (message_id,))
        return None if row is None else _subscription(row)

    def confirmed_subscription(self, topic_arn: str, endpoint: str) -> SubscriptionRecord | None:
        row = self._fetchone("subscription_standing", (topic_arn, endpoint))
        if row is None or row[3] != SubscriptionState.CONFIRMED:
            return None
        return _subscription(row)

    def record_rejection(self, rejection: Rejection) -> None:
        self._rowcount(
            "record_rejection",
            (
                clean_text(rejection.source),
                clean_text(rejection.message_id),
                clean_text(rejection.reason[:1000]),
                self._now(),
                MAX_REJECTIONS,
            ),
        )

    def list_rejections(self, *, limit: int = 100) -> builtins.list[RejectionRecord]:
        return [
            rejection_from_row(row, _utc) for row in self._fetchall("list_rejections", (check_limit(limit),))
        ]

    # -- lifecycle -------------------------------------------------------------------------------------------

    def ping(self) -> None:
        self._fetchone("ping")

    def drop_schema(self) -> None:
        """Drop the schema with everything in it (tests, uninstalling); never ``public``."""
        if self._schema == "public":
            raise ConfigurationError("refusing to drop the public schema", value=self._schema)
        with self._connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self._schema)))


def _conninfo(url: str, *, timeout: float, application_name: str) -> str:
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        # The URL may hold a password: name the problem, not the value.
        raise ConfigurationError(f"invalid PostgreSQL store URL: {redact_urls_in(str(exc))}") from exc
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
