"""One ``store`` fixture, two implementations: a SQLite file and the real PostgreSQL server.

PostgreSQL tests skip when the server is unreachable, except in CI (``CI=true``), where an
unreachable database fails them: CI must not go green by skipping the shared-inbox tests.
Each PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.stores import InboxStore, open_store

from ..support.clock import FakeClock

#: The test database; other test modules import this, ``require_postgres`` and ``pg_schema``.
PG_URL = os.environ.get("SNS_SUBSCRIBER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

StoreFactory = Callable[..., InboxStore]

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _postgres_error() -> str | None:
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unreachable; fail it instead under CI=true."""
    error = _postgres_error()
    if error is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable and CI=true: {error}")
    pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {error}")


def pg_schema() -> str:
    """A fresh schema name, so each test has the database to itself."""
    return f"sns_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require_postgres()
    return PG_URL


@pytest.fixture
def schema_name(postgres_url: str) -> Iterator[str]:
    """A fresh schema for one test, dropped (with its tables) afterwards."""
    import psycopg
    from psycopg import sql

    schema = pg_schema()
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """URL and options that address this test's database."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'inbox.db'}", {}
    return request.getfixturevalue("postgres_url"), {"schema": request.getfixturevalue("schema_name")}


@pytest.fixture
def make_store(store_url: tuple[str, dict[str, Any]], clock: FakeClock) -> Iterator[StoreFactory]:
    """Opens stores on this test's database; each open is like another process. All closed at the end."""
    url, base_options = store_url
    opened: list[InboxStore] = []

    def factory(**options: Any) -> InboxStore:
        store = open_store(url, **{"clock": clock, **base_options, **options})
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> InboxStore:
    return make_store()
