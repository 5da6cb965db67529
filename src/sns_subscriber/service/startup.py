"""What ``serve`` and ``worker`` tell the operator: the start-up summary, and a warning when
messages sit in the inbox with nobody claiming them.

The summary names the configuration file, the store (its password redacted), every endpoint
with its topics, confirmation mode and actions, and whether this process runs a worker: the
first lines of a log answer "what is this process doing?".
"""

from __future__ import annotations

import logging
import threading

from ..redaction import redact_url
from ..stores import InboxStatus, InboxStore
from .config import Config

__all__ = ["UnclaimedWatch", "log_startup"]

logger = logging.getLogger("sns_subscriber.service")


def log_startup(config: Config, *, role: str, worker: bool) -> None:
    """Log what this process serves or processes, one fact per line."""
    logger.info("%s: configuration %s", role, config.source)
    logger.info("%s: store %s", role, redact_url(config.store_url))
    for endpoint in config.endpoints:
        logger.info(
            "%s: endpoint %s topics=%s confirm=%s actions=%s",
            role,
            endpoint.path,
            ",".join(endpoint.topics),
            endpoint.confirm,
            ",".join(endpoint.actions) or "-",
            extra={"sns_endpoint": endpoint.path},
        )
    if worker:
        logger.info("%s: a worker runs in this process", role)
    else:
        logger.info("%s: no worker in this process; run `sns-subscriber worker` to process the inbox", role)


class UnclaimedWatch:
    """Warn when messages stay unclaimed: for a process serving without a worker.

    Every ``interval`` seconds it reads the newest received (never claimed) message ids, at
    most ``sample`` of them: ids already there at the previous look waited a whole interval,
    which a running worker anywhere would not let happen. One bounded query per interval.
    """

    def __init__(self, store: InboxStore, *, interval: float = 60.0, sample: int = 100) -> None:
        self.store = store
        self.interval = interval
        self.sample = sample
        self._seen: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> int:
        """One look; returns how many messages waited since the previous look (and warns)."""
        records = self.store.list_messages(status=InboxStatus.RECEIVED, limit=self.sample)
        ids = frozenset(r.message_id for r in records)
        waiting = len(ids & self._seen)
        self._seen = ids
        if waiting:
            logger.warning(
                "%d message(s) have waited over %g s in the inbox and nothing claims them: "
                "is a worker running? (`sns-subscriber worker`, or serve without --no-worker)",
                waiting,
                self.interval,
            )
        return waiting

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # a store hiccup must not end the watch; readiness reports it
                logger.debug("inbox watch failed", exc_info=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sns-inbox-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
