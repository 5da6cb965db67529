"""A worker process for the crash test: each message writes 'start', sleeps, then does its
one side effect through the action ledger. Run: python -m tests.crash_worker DB LOG EFFECTS."""

from __future__ import annotations

import os
import sys
import time

from sns_subscriber.delivery import Delivery
from sns_subscriber.routing import Router
from sns_subscriber.stores import open_store
from sns_subscriber.worker import Worker


def append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def main() -> None:
    db, log, effects = sys.argv[1:4]
    store = open_store(f"sqlite:///{db}")

    def handler(delivery: Delivery) -> None:
        append(log, f"start {delivery.message_id}")
        time.sleep(0.3)  # the window in which the test kills us
        delivery.once("effect", lambda: append(effects, delivery.message_id))

    router = Router()
    router.add(handler, name="effect")
    worker = Worker(store, router, lease_seconds=1.5, batch_size=1, poll_interval=0.05)
    worker.drain()
    store.close()


if __name__ == "__main__":
    main()
