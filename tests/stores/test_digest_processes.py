"""Two digest senders in two processes against one PostgreSQL inbox never send a digest twice."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from sns_subscriber.actions import Recipient
from sns_subscriber.actions.budget_digest import DigestQueue, DigestSender
from sns_subscriber.stores import open_store

from ..actions.conftest import RecordingBackend, make_alert, make_delivery
from ..support.digests import send_digests_in_process

pytestmark = pytest.mark.slow


@pytest.mark.postgres
def test_two_processes_never_send_a_digest_twice(postgres_url: str, schema_name: str, tmp_path: Path) -> None:
    """Two senders (as on two hosts) run at once against one PostgreSQL inbox: every owner gets
    exactly one digest holding all of their alerts."""
    store = open_store(postgres_url, schema=schema_name)
    try:
        queue = DigestQueue(store, clock=lambda: datetime.now(UTC))
        for n in range(40):
            owner = Recipient(f"owner{n % 8}@example.com", digest="daily")
            queue.add(make_delivery(message_id=f"m{n:02d}"), make_alert(budget_name=f"team-{n:02d}"), owner)
    finally:
        store.close()
    outboxes = [tmp_path / "outbox-1", tmp_path / "outbox-2"]
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        jobs = [
            pool.submit(
                send_digests_in_process,
                postgres_url,
                {"schema": schema_name},
                str(outbox),
                f"p{i}",
                str(rendezvous),
                2,
            )
            for i, outbox in enumerate(outboxes)
        ]
        counts = [job.result(timeout=120) for job in jobs]
    assert sum(counts) == 8
    emails = [message_from_bytes(path.read_bytes(), policy=policy.default)
              for outbox in outboxes if outbox.exists() for path in sorted(outbox.glob("*.eml"))]  # fmt: skip
    assert sorted(str(m["To"]) for m in emails) == sorted(f"owner{n}@example.com" for n in range(8))
    for message in emails:
        assert message["Subject"].startswith("AWS budgets digest: 5 alerts (")
    # Restarted senders find nothing left to send.
    store = open_store(postgres_url, schema=schema_name)
    try:
        assert (
            DigestSender(store, RecordingBackend(), sender="alerts@example.com").send_due(everything=True)
            == 0
        )
    finally:
        store.close()
