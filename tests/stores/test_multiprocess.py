"""Workers in separate processes share one inbox and never claim the same message."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.stores import InboxStatus

from ..support.stores import claim_in_process, message
from .conftest import StoreFactory

pytestmark = pytest.mark.slow

PROCESSES = 2
MESSAGES = 150


def test_processes_never_claim_the_same_message(
    make_store: StoreFactory, store_url: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    store = make_store()
    futures = [store.submit(message(f"p{i:03d}")) for i in range(MESSAGES)]
    assert all(future.result(timeout=30) for future in futures)
    url, options = store_url
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        jobs = [
            pool.submit(claim_in_process, url, options, f"proc-{n}", str(rendezvous), PROCESSES)
            for n in range(PROCESSES)
        ]
        claimed = [job.result(timeout=60) for job in jobs]

    everything = Counter(message_id for mine in claimed for message_id in mine)
    assert set(everything) == {f"p{i:03d}" for i in range(MESSAGES)}
    assert max(everything.values()) == 1, everything.most_common(3)
    assert all(mine for mine in claimed), "both processes should have taken part"
    assert store.counts()[InboxStatus.DONE] == MESSAGES
    assert all(record.attempts == 1 for record in store.list_messages(limit=MESSAGES))
