"""Overload: the inbox cannot keep up, and the receiver says so quickly (503 + Retry-After)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import Runtime, build_runtime
from sns_subscriber.stores import InboxStore, open_store
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.servers import Reply, request, serve_asgi

PATH = "/sns"
QUEUE = 8


Stall = Callable[[], contextlib.AbstractContextManager[None]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stalled_runtime(
    request: pytest.FixtureRequest, tmp_path: Path, sns_kit: SNSTestKit
) -> Iterator[tuple[Runtime, Stall]]:
    """A runtime whose store another connection can stall: SQLite's write lock held by
    another process's connection, or PostgreSQL's inbox table locked against writes."""
    db = tmp_path / "inbox.db"
    # The store built below (with a stall-revealing busy timeout, or PostgreSQL) replaces the
    # configured one; the configuration contributes the endpoint and the service's bounds.
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{db}", "max_pending": QUEUE},
            "service": {"request_timeout_seconds": 1.0, "worker": False},
            "verification": {"cert_dir": str(sns_kit.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN], "confirm": "manual"}],
        },
        environ={},
    )
    store: InboxStore
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if request.param == "sqlite":
        # A write waits up to 30 s for the lock: far past SNS's 15 s, so any answer given while
        # the lock is held comes from the receiver's own bounds, not from the store giving up.
        store = open_store(f"sqlite:///{db}", busy_timeout=30.0, max_pending=QUEUE)

        @contextlib.contextmanager
        def stall() -> Iterator[None]:
            with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as blocker:
                blocker.execute("BEGIN IMMEDIATE")
                yield
                blocker.execute("ROLLBACK")

    else:
        import psycopg
        from psycopg import sql

        from .stores.conftest import PG_URL, pg_schema, require_postgres

        require_postgres()
        schema = pg_schema()
        store = open_store(PG_URL, schema=schema, max_pending=QUEUE)

        @contextlib.contextmanager
        def stall() -> Iterator[None]:
            # PostgreSQL has no busy timeout: a write behind this lock waits until it goes.
            with psycopg.connect(PG_URL) as blocker:
                blocker.execute(
                    sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(schema, "inbox"))
                )
                yield
                blocker.rollback()

        def cleanup() -> None:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    runtime = build_runtime(config, store=store)
    yield runtime, stall
    runtime.close()
    cleanup()


def post(url: str, kit: SNSTestKit, fields: dict[str, Any]) -> Reply:
    return request(url + PATH, body=kit.body(fields), headers=kit.headers(fields), timeout=60)


def test_a_flood_while_the_store_is_stalled_gets_fast_503s_and_loses_nothing(
    stalled_runtime: tuple[Runtime, Stall], sns_kit: SNSTestKit
) -> None:
    """Overload: another connection stalls the database's writes while 40 deliveries arrive
    at once. Without bounds every request would wait for the lock past SNS's 15-second
    timeout, each holding its body in memory. With them: the group-commit queue never grows
    past its bound, every request is answered 503 with Retry-After while the store is still
    stalled, and once it is back SNS's redeliveries are all stored (a row that was mid-commit
    is answered "duplicate"), so nothing acknowledged or retried is lost."""
    from sns_subscriber.service.app import create_app

    runtime, stall = stalled_runtime
    messages = [sns_kit.notification(TEST_TOPIC_ARN, f"flood {i}") for i in range(40)]
    replies: dict[str, Reply] = {}
    lock = threading.Lock()

    def deliver(fields: dict[str, Any]) -> None:
        reply = post(base, sns_kit, fields)
        with lock:
            replies[fields["MessageId"]] = reply

    with serve_asgi(create_app(runtime, run_worker=False)) as base:
        with stall():
            threads = [threading.Thread(target=deliver, args=(m,)) for m in messages]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(25)  # a hang guard: with the bounds every answer comes within ~1 s
            answered_while_stalled = dict(replies)
        # The store is back.

        assert len(answered_while_stalled) == len(messages)
        assert {r.status for r in answered_while_stalled.values()} == {503}
        assert all(r.headers.get("retry-after") for r in answered_while_stalled.values())
        # Past the queue bound: refused at once. Queued or mid-commit: answered at the
        # request deadline (1 s here), well inside SNS's 15 s.
        refused_at_once = [r for r in answered_while_stalled.values() if b"not keeping up" in r.body]
        timed_out = [r for r in answered_while_stalled.values() if b"not stored within 1 s" in r.body]
        assert refused_at_once
        assert len(refused_at_once) + len(timed_out) == len(messages)
        committer = runtime.store._committer  # type: ignore[attr-defined]
        assert committer.high_water <= QUEUE

        # SNS delivers each 503'd message again; the store has recovered.
        results: dict[str, str] = {}
        for fields in messages:
            for _ in range(100):
                reply = post(base, sns_kit, fields)
                if reply.status == 200:
                    results[fields["MessageId"]] = reply.body.decode()
                    break
                assert reply.status == 503
        assert len(results) == len(messages)
        assert all(runtime.store.get(m["MessageId"]) is not None for m in messages)
        assert sum(runtime.store.counts().values()) == len(messages)
