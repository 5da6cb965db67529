"""Helpers for the digest tests: a digest sender run in its own process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sns_subscriber.actions.budget_digest import DigestSender
from sns_subscriber.actions.email import FileBackend
from sns_subscriber.stores import open_store


def send_digests_in_process(
    url: str, options: dict[str, Any], outbox: str, name: str, rendezvous: str, peers: int
) -> int:
    """Run in a spawned process: wait for the peers, then send every pending digest."""
    store = open_store(url, **options)
    try:
        here = Path(rendezvous)
        (here / name).touch()
        deadline = time.monotonic() + 30
        while len(list(here.iterdir())) < peers and time.monotonic() < deadline:
            time.sleep(0.005)
        sender = DigestSender(store, FileBackend(outbox), sender="alerts@example.com", worker_id=name)
        return sender.send_due(everything=True)
    finally:
        store.close()
