"""Retention as operators meet it: `inbox purge`, `inbox stats`, the worker's periodic purge, and
a purge of a large inbox while SNS keeps delivering."""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sns_subscriber.cli.app import cli
from sns_subscriber.retention import RetentionJob, RetentionPolicy, purge
from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import Runtime, build_runtime, retention_policy
from sns_subscriber.stores import InboxStatus, open_store
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.clock import FakeClock
from .support.pipeline import post
from .support.servers import request, serve_asgi

PATH = "/sns"


def write_config(tmp_path: Path, kit: SNSTestKit, extra: str = "") -> Path:
    cert_dir = kit.write_cert_dir(tmp_path / "certs")
    path = tmp_path / "sns-subscriber.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "inbox.db"}"\n{extra}'
        f'[verification]\ncert_dir = "{cert_dir}"\nfetch = false\n'
        f'[[endpoints]]\npath = "{PATH}"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"\nactions = ["log"]\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config_path(tmp_path: Path, sns_kit: SNSTestKit) -> Path:
    return write_config(tmp_path, sns_kit)


@pytest.fixture
def runtime(config_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(load_config(config_path, environ={}))
    yield runtime
    runtime.close()


def test_inbox_purge_with_a_tiny_age_does_not_reopen_the_replay_window(
    runtime: Runtime, config_path: Path, sns_kit: SNSTestKit
) -> None:
    """Attack: an operator (or a cron job) runs `inbox purge --older-than 0`; an attacker who
    captured a message replays it minutes later, inside the verification window. The purge
    must keep its MessageId, so the copy is a duplicate and no action runs twice."""
    fields = sns_kit.notification(
        TEST_TOPIC_ARN, "budget exceeded", message_id="00000000-0000-4000-8000-00000000beef"
    )
    subscriber = runtime.subscribers[PATH]
    assert subscriber.handle(post(fields)).result == "accepted"
    assert runtime.worker().drain() == 1
    result = CliRunner().invoke(cli, ["inbox", "purge", "--config", str(config_path), "--older-than", "0"])
    assert result.exit_code == 0, result.output
    assert "purged 0 message(s)" in result.output
    assert "replay tombstones" in result.output
    replay = subscriber.handle(post(fields))
    assert replay.status == 200 and replay.result == "duplicate"
    assert runtime.store.counts()[InboxStatus.DONE] == 1
    assert runtime.worker().drain() == 0  # nothing to run again


def test_inbox_purge_deletes_what_is_past_the_window(config_path: Path, tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC) - timedelta(days=40))
    from .support.stores import message

    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock)) as store:
        store.add(message("old"))
        store.claim("w", limit=1)
        assert store.complete("old", "w")
    result = CliRunner().invoke(cli, ["inbox", "purge", "--config", str(config_path), "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "purged 1 message(s)"


def test_inbox_stats_counts_oldest_and_size(runtime: Runtime, config_path: Path, sns_kit: SNSTestKit) -> None:
    for index in range(3):
        runtime.subscribers[PATH].handle(post(sns_kit.notification(TEST_TOPIC_ARN, f"m{index}")))
    runtime.store.claim("w", limit=1)
    text = CliRunner().invoke(cli, ["inbox", "stats", "--config", str(config_path)])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].split()[:2] == ["received", "2"] and "oldest" in lines[0]
    assert lines[1].split()[:2] == ["processing", "1"]
    assert "total" in text.output and "database size:" in text.output
    as_json = CliRunner().invoke(cli, ["inbox", "stats", "--config", str(config_path), "--json"])
    data = json.loads(as_json.output)
    assert data["counts"]["received"] == 2 and data["counts"]["done"] == 0
    assert data["oldest"]["done"] is None
    assert data["database_bytes"] > 0


def test_worker_enforces_retention_from_the_configuration(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    from .support.stores import message

    config = load_config(write_config(tmp_path, sns_kit, "retention_days = 7\n"), environ={})
    assert retention_policy(config).done_days == 7
    clock = FakeClock(datetime.now(UTC) - timedelta(days=8))
    store = open_store(config.store_url, clock=clock)
    runtime = build_runtime(config, store=store)
    try:
        store.add(message("old"))
        store.add(message("recent"))
        store.claim("w", limit=2)
        assert store.complete("old", "w")
        clock.advance(days=2)
        assert store.complete("recent", "w")
        runtime.worker().run_periodic()
        assert store.get("old") is None
        assert store.get("recent") is not None
    finally:
        runtime.close()


def test_zero_retention_days_keep_messages_forever(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    config = load_config(
        write_config(tmp_path, sns_kit, "retention_days = 0\ndead_retention_days = 0\n"), environ={}
    )
    policy = retention_policy(config)
    assert policy.done_days is None and policy.dead_days is None
    cutoffs = policy.cutoffs(datetime.now(UTC))
    assert cutoffs.done_before.year == 1970 and cutoffs.dead_before.year == 1970


def test_retention_job_reports_more_work_when_its_bite_was_full(tmp_path: Path) -> None:
    from .support.stores import message

    clock = FakeClock(datetime.now(UTC) - timedelta(days=40))
    with contextlib.closing(open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock)) as store:
        for index in range(5):
            store.add(message(f"m{index}"))
        store.claim("w", limit=5)
        for index in range(5):
            store.complete(f"m{index}", "w")
        job = RetentionJob(store, RetentionPolicy(batch_size=2, pause_seconds=0), max_batches=2)
        assert job() is True  # 4 deleted, maybe more left
        assert job() is False  # the last one
        assert sum(store.counts().values()) == 0


# -- a large inbox ---------------------------------------------------------------------------

LARGE = 100_000


def bulk_insert_done(database: Path, count: int, finished: datetime) -> None:
    """``count`` DONE rows finished at ``finished``, written straight into the SQLite file."""
    stamp = finished.astimezone(UTC).isoformat(timespec="microseconds")
    body = b'{"Type": "Notification", "Message": "an old budget alert"}'
    with sqlite3.connect(database) as conn:
        conn.executemany(
            "INSERT INTO inbox (message_id, endpoint, topic_arn, message_type, subject, body, status, "
            "attempts, received_at, updated_at) VALUES (?, ?, ?, 'Notification', NULL, ?, 'done', 1, ?, ?)",
            ((f"old-{index:07d}", PATH, TEST_TOPIC_ARN, body, stamp, stamp) for index in range(count)),
        )


def test_ingest_keeps_answering_while_a_large_inbox_is_purged(runtime: Runtime, sns_kit: SNSTestKit) -> None:
    """100,000 finished rows are purged in batches while signed messages keep arriving over HTTP:
    every delivery is answered 200 and stored, and deliveries are answered *between* batches
    (a purge holding the write lock for its whole run would let none through until it ended)."""
    from sns_subscriber.service.app import create_app

    database = Path(runtime.config.store_url.removeprefix("sqlite:///"))
    bulk_insert_done(database, LARGE, datetime.now(UTC) - timedelta(days=60))
    assert runtime.store.counts()[InboxStatus.DONE] == LARGE
    messages = [sns_kit.notification(TEST_TOPIC_ARN, f"new {index}") for index in range(3000)]
    answered = 0
    answered_at_batch: list[int] = []
    purged: list[int] = []

    def run_purge() -> None:
        policy = retention_policy(runtime.config)
        purged.append(
            purge(
                runtime.store,
                policy.cutoffs(datetime.now(UTC)),
                batch_size=500,
                pause_seconds=0.005,
                on_batch=lambda _deleted: answered_at_batch.append(answered),
            )
        )

    statuses: list[int] = []
    with serve_asgi(create_app(runtime, run_worker=False)) as base:
        purger = threading.Thread(target=run_purge)
        purger.start()
        for fields in messages:
            reply = request(base + PATH, body=sns_kit.body(fields), headers=sns_kit.headers(fields))
            statuses.append(reply.status)
            answered += 1
            if not purger.is_alive():
                break
        purger.join(120)
        counts = runtime.store.counts()  # the app closes the store when it stops
    assert purged == [LARGE]
    assert set(statuses) == {200}
    assert counts[InboxStatus.RECEIVED] == answered
    assert counts[InboxStatus.DONE] == 0
    # Deliveries were answered between many pairs of consecutive batches, not only at the end.
    progress = sum(1 for before, after in itertools.pairwise(answered_at_batch) if after > before)
    assert len(answered_at_batch) >= LARGE // 500
    assert progress >= 10, answered_at_batch


def test_metrics_show_the_database_size(runtime: Runtime) -> None:
    from sns_subscriber.service.app import create_app

    with serve_asgi(create_app(runtime, run_worker=False)) as base:
        text = request(base + "/metrics", method="GET").body.decode()
    sizes = [line for line in text.splitlines() if line.startswith("sns_store_bytes ")]
    assert len(sizes) == 1 and float(sizes[0].split()[1]) > 0


def test_periodic_jobs_run_when_due_again_when_they_have_more_and_survive_errors(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    worker = runtime.worker()
    calls: list[str] = []
    more = iter([True, False])

    def busy() -> bool:
        calls.append("busy")
        return next(more, False)

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("disk on fire")

    worker.add_periodic(busy, every=3600)
    worker.add_periodic(broken, every=3600)
    worker.run_periodic()
    worker.run_periodic()  # busy had more to do: it runs again; broken waits for its interval
    worker.run_periodic()
    assert calls == ["busy", "broken", "busy"]
    assert "periodic job broken failed" in caplog.text
