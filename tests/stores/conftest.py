"""One store fixture, two implementations: a SQLite file and the real PostgreSQL server.

PostgreSQL tests skip when the server is unreachable, except in CI (CI=true) where a
missing database is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sns_subscriber.stores import InboxStore, NewMessage, open_store

PG_URL = os.environ.get("SNS_SUBSCRIBER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


class Clock:
    """A clock tests move by hand (leases, retry times)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=2):
            return True
    except Exception:
        return False


def require_postgres() -> None:
    if postgres_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable and CI=true: PostgreSQL tests must run in CI")
    pytest.skip(f"PostgreSQL at {PG_URL} is unreachable")


def pg_schema() -> str:
    return f"sns_test_{uuid.uuid4().hex[:12]}"


StoreFactory = Callable[..., InboxStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores of one kind that share one database (several opens = several processes)."""
    opened: list[InboxStore] = []
    schema = pg_schema()
    if request.param == "postgres":
        require_postgres()

    def factory(**options: object) -> InboxStore:
        if request.param == "sqlite":
            store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}", **options)
        else:
            store = open_store(PG_URL, schema=schema, **options)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
    if request.param == "postgres":
        cleanup = open_store(PG_URL, schema=schema)
        cleanup.drop_schema()  # type: ignore[attr-defined]
        cleanup.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_factory: StoreFactory, clock: Clock) -> InboxStore:
    return store_factory(clock=clock)


def new_message(message_id: str | None = None, **changes: object) -> NewMessage:
    fields: dict[str, object] = {
        "message_id": message_id or str(uuid.uuid4()),
        "endpoint": "/sns",
        "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
        "message_type": "Notification",
        "subject": "s",
        "body": b'{"Type": "Notification"}',
    }
    fields.update(changes)
    return NewMessage(**fields)  # type: ignore[arg-type]
