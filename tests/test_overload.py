"""Overload: the inbox cannot keep up, and the receiver says so quickly (503 + Retry-After)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
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


@pytest.fixture
def runtime(tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[Runtime]:
    db = tmp_path / "inbox.db"
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{db}", "max_pending": QUEUE},
            "service": {"request_timeout_seconds": 1.0, "worker": False},
            "verification": {"cert_dir": str(sns_kit.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN], "confirm": "manual"}],
        },
        environ={},
    )
    # A write waits up to 30 s for the lock: far past SNS's 15 s, so any answer given while
    # the lock is held comes from the receiver's own bounds, not from the store giving up.
    store: InboxStore = open_store(f"sqlite:///{db}", busy_timeout=30.0, max_pending=QUEUE)
    runtime = build_runtime(config, store=store)
    yield runtime
    runtime.close()


def post(url: str, kit: SNSTestKit, fields: dict[str, Any]) -> Reply:
    return request(url + PATH, body=kit.body(fields), headers=kit.headers(fields), timeout=60)


def test_a_flood_while_the_store_is_stalled_gets_fast_503s_and_loses_nothing(
    runtime: Runtime, sns_kit: SNSTestKit, tmp_path: Path
) -> None:
    """Overload: another process holds SQLite's write lock (a stalled database) while 40
    deliveries arrive at once. Without bounds every request would wait for the lock past
    SNS's 15-second timeout, each holding its body in memory. With them: the group-commit queue
    never grows past its bound, every request is answered 503 with Retry-After while the store
    is still stalled, and once it is back SNS's redeliveries are all stored (the row that was
    mid-commit is answered "duplicate"), so nothing acknowledged or retried is lost."""
    from sns_subscriber.service.app import create_app

    messages = [sns_kit.notification(TEST_TOPIC_ARN, f"flood {i}") for i in range(40)]
    replies: dict[str, Reply] = {}
    lock = threading.Lock()

    def deliver(fields: dict[str, Any]) -> None:
        reply = post(base, sns_kit, fields)
        with lock:
            replies[fields["MessageId"]] = reply

    blocker = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    with contextlib.closing(blocker), serve_asgi(create_app(runtime, run_worker=False)) as base:
        blocker.execute("BEGIN IMMEDIATE")  # the write lock, held by someone else
        threads = [threading.Thread(target=deliver, args=(m,)) for m in messages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(25)  # a hang guard: with the bounds every answer comes within ~1 s
        answered_while_stalled = dict(replies)
        blocker.execute("ROLLBACK")  # the store is back

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
