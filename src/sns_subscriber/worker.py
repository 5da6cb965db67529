"""The worker: claim stored messages, run their handlers, finish, retry or give up.

Each handler's success is recorded in the store's action ledger (``handler:<name>``) so a
retry, a crash-recovered lease or a replay never runs a handler that already succeeded;
inside a handler, :meth:`Delivery.once` does the same for finer steps (one e-mail per
recipient). Failures are retried with exponential backoff and jitter until ``max_attempts``,
then the message is dead (kept, replayable).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .delivery import SKIPPED, Delivery
from .exceptions import StoreUnavailableError
from .messages import Notification, RawNotification
from .pacing import RetryLater
from .parsing import parse
from .producers import detect
from .routing import Router
from .triage import RUN, Triage, triage

if TYPE_CHECKING:
    from .stores import InboxRecord, InboxStore

__all__ = ["RetryPolicy", "Worker"]

logger = logging.getLogger("sns_subscriber.worker")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 5.0
    max_delay: float = 3600.0
    jitter: float = 0.25  # +-25 %

    def delay(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1`` (attempt counts from 1)."""
        raw: float = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        factor: float = 1 + random.uniform(-self.jitter, self.jitter)
        return max(0.0, raw * factor)


@dataclass(slots=True)
class _Periodic:
    job: Callable[[], object]
    every: float
    #: time.monotonic() from which it may run again.
    due: float = 0.0


class Worker:
    """Processes the inbox. ``producers`` maps an endpoint path to a forced producer name."""

    def __init__(
        self,
        store: InboxStore,
        router: Router,
        *,
        worker_id: str | None = None,
        batch_size: int = 10,
        lease_seconds: float = 300.0,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.5,
        producers: Mapping[str, str] | None = None,
        on_result: Callable[[str, str], None] | None = None,
        on_action: Callable[[str, str], None] | None = None,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.producers = dict(producers or {})
        #: Called with (message_id, "done" | "retrying" | "deferred" | "dead" | "test" | "stale")
        #: for metrics.
        self.on_result = on_result
        #: Called with (handler name, "ok" | "failed" | "skipped") for metrics; "skipped"
        #: means it had succeeded on an earlier attempt and was not run again, or that it
        #: returned :data:`~sns_subscriber.delivery.SKIPPED` (nothing to do, e.g. no recipient).
        self.on_action = on_action
        #: Called with each Notification's delivery lag (received − SNS Timestamp, seconds) on
        #: its first attempt, for metrics.
        self.on_lag = on_lag
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The producer detected for the message being processed, recorded when it finishes.
        self._producer: str | None = None
        self.stopping = threading.Event()
        # Housekeeping run between batches by run().
        self._periodic: list[_Periodic] = []

    def add_periodic(self, job: Callable[[], object], *, every: float) -> None:
        """Run ``job`` every ``every`` seconds between batches (retention, alerts).

        A job returning True has more to do and runs again at the next turn; its exceptions
        are logged, never stop the worker.
        """
        self._periodic.append(_Periodic(job, every))

    def run_periodic(self) -> None:
        """Run the periodic jobs that are due (run() calls this between batches)."""
        for entry in self._periodic:
            now = time.monotonic()
            if now < entry.due:
                continue
            try:
                more = entry.job()
            except Exception:
                logger.exception("periodic job %s failed", getattr(entry.job, "__name__", entry.job))
                more = False
            entry.due = now if more is True else time.monotonic() + entry.every

    # -- running -----------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch and process it; return how many messages were handled."""
        records = self.store.claim(self.worker_id, limit=self.batch_size, lease_seconds=self.lease_seconds)
        for record in records:
            self.process(record)
        return len(records)

    def run(self, stop: threading.Event | None = None) -> None:
        """Process until ``stop`` (or :attr:`stopping`) is set; the current message finishes."""
        stop = stop or self.stopping
        logger.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                handled = self.run_once()
            except StoreUnavailableError as exc:
                logger.warning("store unavailable, worker waits: %s", exc)
                handled = 0
                stop.wait(min(5.0, self.poll_interval * 4))
            self.run_periodic()
            if handled == 0:
                stop.wait(self.poll_interval)
        logger.info("worker %s stopped", self.worker_id)
        self.close()

    def drain(self, *, max_rounds: int = 1000) -> int:
        """Process until nothing is claimable now (tests, CLI); return the count."""
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            if handled == 0:
                break
            total += handled
        return total

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # -- one message -------------------------------------------------------------------

    def process(self, record: InboxRecord) -> str:
        """Run the handlers of one claimed message; return its new status."""
        self._producer = None
        try:
            unrecorded = self._run_handlers(record)
        except RetryLater as later:  # not a failure: the destination asked us to come back
            return self._later(record, later)
        except Exception as exc:  # a handler's failure is data: retry or dead, never a crash
            return self._failed(record, exc)
        if isinstance(unrecorded, Triage):
            return self._set_aside(record, unrecorded)
        if not self.store.complete(
            record.message_id, self.worker_id, actions=unrecorded, producer=self._producer
        ):
            logger.warning("lease of %s was lost before completion", record.message_id, extra=_fields(record))
            return "lost"
        self._report(record.message_id, "done")
        return "done"

    def _message(self, record: InboxRecord) -> Any:
        if record.raw_delivery:
            return RawNotification(
                message_id=record.message_id,
                topic_arn=record.topic_arn,
                message=record.body.decode("utf-8", "replace"),
                raw=record.body,
            )
        return parse(record.body, max_bytes=max(len(record.body), 1))

    def _set_aside(self, record: InboxRecord, verdict: Triage) -> str:
        assert verdict.status is not None
        logger.info("message %s set aside as %s: %s", record.message_id, verdict.status, verdict.reason)
        if not self.store.set_aside(
            record.message_id, self.worker_id, status=verdict.status, reason=verdict.reason or ""
        ):
            logger.warning("lease of %s was lost before it was set aside", record.message_id)
            return "lost"
        self._report(record.message_id, str(verdict.status))
        return str(verdict.status)

    def _run_handlers(self, record: InboxRecord) -> list[str] | Triage:
        """Run the routes not yet done; return the ledger key of the last one run (if any), for
        the caller to record together with the completion (one commit less per message); or,
        for a message that must run nothing (a test event, a stale state), the verdict."""
        message = self._message(record)
        event = (
            detect(message, producer=self.producers.get(record.endpoint))
            if record.message_type == "Notification"
            else None
        )
        self._producer = None if event is None else event.producer
        if self.on_lag is not None and record.attempts == 1 and isinstance(message, Notification):
            self.on_lag((record.received_at - message.sent_at).total_seconds())
        verdict = RUN
        if event is not None:
            text = getattr(message, "message", None)
            verdict = triage(event, text if isinstance(text, str) else None, self.store, record.message_id)
            if verdict.status is not None:
                return verdict
        routes = self.router.match(
            record.message_type,
            record.topic_arn,
            getattr(message, "subject", None),
            event,
            record.endpoint,
        )
        if not routes:
            logger.debug(
                "no handler for %s (%s)", record.message_id, type(event).__name__, extra=_fields(record)
            )
        pending: str | None = None  # the last success, not recorded yet
        for route in routes:
            key = f"handler:{route.name}"
            if self.store.action_succeeded(record.message_id, key):
                self._report_action(route.name, "skipped")
                continue
            delivery = Delivery(
                message=message,
                event=event,
                endpoint=record.endpoint,
                attempt=record.attempts,
                handler_name=route.name,
                ledger=self.store,
                resolution=verdict.resolution,
            )
            # The previous route's success is recorded before this one runs: a failure here
            # must not make it run again. The last route's is recorded by complete().
            if pending is not None:
                self.store.record_action(record.message_id, pending)
                pending = None
            try:
                result = route.handler(delivery)
                if asyncio.iscoroutine(result):
                    result = self._event_loop().run_until_complete(result)
            except Exception:
                self._report_action(route.name, "failed")
                raise
            pending = key
            self._report_action(route.name, "skipped" if result is SKIPPED else "ok")
        return [] if pending is None else [pending]

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        # One loop per worker thread, reused: async handlers may keep clients bound to it.
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def _failed(self, record: InboxRecord, exc: Exception) -> str:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if record.attempts >= self.retry.max_attempts:
            logger.error(
                "message %s is dead after %d attempts: %s",
                record.message_id,
                record.attempts,
                error,
                extra=_fields(record),
            )
            self.store.fail(record.message_id, self.worker_id, error=error, producer=self._producer)
            self._report(record.message_id, "dead")
            return "dead"
        delay = self.retry.delay(record.attempts)
        logger.warning(
            "message %s failed (attempt %d), retry in %.1f s: %s",
            record.message_id,
            record.attempts,
            delay,
            error,
            extra=_fields(record),
        )
        self.store.retry(
            record.message_id, self.worker_id, error=error, delay_seconds=delay, producer=self._producer
        )
        self._report(record.message_id, "retrying")
        return "retrying"

    def _later(self, record: InboxRecord, later: RetryLater) -> str:
        # The attempt is given back: a rate-limited destination must never make a message dead.
        logger.info("message %s deferred %.1fs: %s", record.message_id, later.delay, later.reason)
        self.store.defer(
            record.message_id, self.worker_id, reason=later.reason[:2000], delay_seconds=later.delay
        )
        self._report(record.message_id, "deferred")
        return "deferred"

    def _report(self, message_id: str, result: str) -> None:
        if self.on_result is not None:
            self.on_result(message_id, result)

    def _report_action(self, name: str, result: str) -> None:
        if self.on_action is not None:
            self.on_action(name, result)


def _fields(record: InboxRecord) -> dict[str, str]:
    """The message's identity as log record attributes (JSON logs show them as fields)."""
    return {
        "sns_message_id": record.message_id,
        "sns_endpoint": record.endpoint,
        "sns_topic_arn": record.topic_arn,
    }
