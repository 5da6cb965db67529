"""What the service tells its operator: the start-up summary (no password), a warning for
messages nobody claims, and JSON log lines whose message identity is in fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sns_subscriber.routing import Router
from sns_subscriber.service.config import load_config
from sns_subscriber.service.logs import JSONFormatter
from sns_subscriber.service.startup import UnclaimedWatch, log_startup
from sns_subscriber.stores import InboxStore, open_store
from sns_subscriber.worker import RetryPolicy, Worker

from .support.stores import TOPIC, message


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
    yield store
    store.close()


def test_startup_summary_names_everything_but_the_password(caplog: pytest.LogCaptureFixture) -> None:
    """A database password in store.url must never reach the log."""
    config = load_config(
        data={
            "store": {"url": "postgresql://app:s3cret@db.internal/sns"},
            "endpoints": [
                {"path": "/budgets", "topics": [TOPIC], "actions": ["budget-email", "log"]},
                {"path": "/alarms", "topics": [TOPIC], "confirm": "manual"},
            ],
        },
        environ={},
    )
    with caplog.at_level(logging.INFO, logger="sns_subscriber"):
        log_startup(config, role="serve", worker=False)
    text = caplog.text
    assert "s3cret" not in text
    assert "serve: store postgresql://app:***@db.internal/sns" in text
    assert f"serve: endpoint /budgets topics={TOPIC} confirm=auto actions=budget-email,log" in text
    assert f"serve: endpoint /alarms topics={TOPIC} confirm=manual actions=-" in text
    assert "no worker in this process" in text
    assert "serve: configuration <defaults>" in text


def test_unclaimed_messages_are_warned_about(store: InboxStore, caplog: pytest.LogCaptureFixture) -> None:
    watch = UnclaimedWatch(store, interval=60)
    assert watch.check() == 0  # nothing stored
    store.add(message("m-1"))
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.service"):
        assert watch.check() == 0  # just arrived: a worker may claim it any moment
        assert not caplog.records
        store.add(message("m-2"))
        assert watch.check() == 1  # m-1 waited a whole interval
    assert "1 message(s) have waited over 60 s in the inbox" in caplog.text
    Worker(store, Router()).drain()
    assert watch.check() == 0


def test_unclaimed_watch_thread_runs_and_stops(store: InboxStore, caplog: pytest.LogCaptureFixture) -> None:
    store.add(message("m-1"))
    watch = UnclaimedWatch(store, interval=0.01)
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.service"):
        watch.start()
        try:
            for _ in range(500):
                if caplog.records:
                    break
                watch._stop.wait(0.01)
        finally:
            watch.stop()
    assert "have waited over" in caplog.text


def test_json_log_lines_carry_the_message_identity_as_fields(store: InboxStore) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("smtp down")

    router = Router()
    router.add(broken, name="broken")
    store.add(message("m-1", endpoint="/budgets"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("sns_subscriber.worker")
    logger.addHandler(handler)
    try:
        Worker(store, router, retry=RetryPolicy(base_delay=0.5, jitter=0)).drain()
    finally:
        logger.removeHandler(handler)
    [line] = [json.loads(line) for line in stream.getvalue().splitlines() if "failed" in line]
    assert (line["message_id"], line["endpoint"], line["topic_arn"]) == ("m-1", "/budgets", TOPIC)
    assert "retry in 0.5 s" in line["message"]
