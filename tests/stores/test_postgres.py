"""What only the PostgreSQL store has: outages, recovery without a restart, schemas, URLs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sns_subscriber.exceptions import ConfigurationError, StoreUnavailableError
from sns_subscriber.stores import InboxStatus, open_store

from ..support.stores import TCPProxy, free_port, message

pytestmark = pytest.mark.postgres

psycopg = pytest.importorskip("psycopg")

from psycopg import sql  # noqa: E402 - after the importorskip

from sns_subscriber.stores.postgres import PostgresStore  # noqa: E402


def _with_port(url: str, port: int) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")


def _eventually(operation: Callable[[], Any], within: float) -> Any:
    """Retry ``operation`` while the store is unavailable, up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return operation()
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TCPProxy]:
    proxy = TCPProxy(("127.0.0.1", 5432)).start()
    yield proxy
    proxy.stop()


def test_an_unreachable_server_fails_fast(postgres_url: str) -> None:
    url = _with_port(postgres_url, free_port())
    store = PostgresStore(url, connect_timeout=1)
    try:
        for operation in (
            lambda: store.add(message("m")),
            store.ping,
            lambda: store.claim("w"),
            store.counts,
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                operation()
            assert time.monotonic() - started < 3
    finally:
        store.close()


def test_open_store_names_the_reason_it_cannot_connect(postgres_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="refused") as caught:
        open_store(_with_port(postgres_url, free_port()), connect_timeout=1)
    assert time.monotonic() - started < 5
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_the_store_recovers_when_the_server_comes_back(
    postgres_url: str, schema_name: str, proxy: TCPProxy
) -> None:
    store = open_store(
        _with_port(postgres_url, proxy.port), schema=schema_name, connect_timeout=1, reconnect_timeout=1
    )
    try:
        assert store.add(message("before"))
        proxy.stop()  # the server "goes away": connections cut, new ones refused
        with pytest.raises(StoreUnavailableError):
            store.add(message("during"))
        time.sleep(1.5)  # longer than the pool's reconnect_timeout: it has given up retrying
        for operation in (lambda: store.add(message("during")), store.ping, lambda: store.claim("w")):
            with pytest.raises(StoreUnavailableError):
                operation()
        proxy.start()  # same port
        assert _eventually(lambda: store.add(message("after")), within=15) is True
        store.ping()
        assert {r.message_id for r in store.list_messages()} == {"before", "after"}
    finally:
        store.close()


def test_a_store_created_during_an_outage_starts_working(postgres_url: str, schema_name: str) -> None:
    proxy = TCPProxy(("127.0.0.1", 5432), port=free_port())  # not listening yet
    store = PostgresStore(
        _with_port(postgres_url, proxy.port), schema=schema_name, connect_timeout=1, reconnect_timeout=1
    )
    try:
        with pytest.raises(StoreUnavailableError):
            store.ping()
        proxy.start()
        _eventually(store.migrate, within=15)
        assert store.add(message("m")) is True
    finally:
        store.close()
        proxy.stop()


def test_the_store_survives_its_connections_being_killed(postgres_url: str, schema_name: str) -> None:
    name = f"sns-test-{uuid.uuid4().hex[:8]}"
    store = open_store(postgres_url, schema=schema_name, application_name=name)
    try:
        assert store.add(message("before"))
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (name,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        time.sleep(1.1)  # idle connections are checked before use; a fresh kill may cost one 503
        assert store.add(message("after")) is True
        assert store.counts()[InboxStatus.RECEIVED] == 2
    finally:
        store.close()


def test_tables_live_in_the_chosen_schema(postgres_url: str, schema_name: str) -> None:
    store = open_store(postgres_url, schema=schema_name)
    try:
        store.add(message("m"))
        with psycopg.connect(postgres_url) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                (schema_name,),
            ).fetchall()
        assert tables == [
            ("alarm_states",),
            ("alerts",),
            ("digest_items",),
            ("inbox",),
            ("inbox_actions",),
            ("rejections",),
            ("schema_version",),
            ("signature_failures",),
            ("subscriptions",),
        ]
    finally:
        store.close()


@pytest.mark.parametrize("schema", ["Public", "1abc", "a-b", "x" * 64, 'a"; DROP TABLE x; --', ""])
def test_schema_names_are_validated(postgres_url: str, schema: str) -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresStore(postgres_url, schema=schema)


def test_a_bad_url_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PostgresStore("postgresql://user:s3cret@127.0.0.1:5432/test?nonsense=1")
    assert "s3cret" not in str(caught.value)


def test_postgres_scheme_alias(postgres_url: str, schema_name: str) -> None:
    store = open_store(postgres_url.replace("postgresql://", "postgres://"), schema=schema_name)
    try:
        assert isinstance(store, PostgresStore)
        assert store.add(message("m"))
    finally:
        store.close()


def test_a_newer_schema_is_refused(postgres_url: str, schema_name: str) -> None:
    open_store(postgres_url, schema=schema_name).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (version, applied_at) VALUES (99, now())").format(
                sql.Identifier(schema_name, "schema_version")
            )
        )
    with pytest.raises(ConfigurationError, match="schema version 99"):
        open_store(postgres_url, schema=schema_name)


def test_default_schema_and_drop_schema(postgres_url: str, schema_name: str) -> None:
    default = PostgresStore(postgres_url)
    try:
        assert default.schema == "sns_subscriber"
    finally:
        default.close()
    public = PostgresStore(postgres_url, schema="public")
    try:
        with pytest.raises(ConfigurationError, match="public"):
            public.drop_schema()
    finally:
        public.close()
    store = open_store(postgres_url, schema=schema_name)
    try:
        store.add(message("m"))
        store.drop_schema()  # type: ignore[attr-defined]
        with psycopg.connect(postgres_url) as conn:
            left = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema_name,)).fetchone()
        assert left is None
    finally:
        store.close()
