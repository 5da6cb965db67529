"""Prometheus metrics of one serving process (its own registry, not the global one).

A scrape never runs on the event loop: the service renders it in a worker thread (or on its
own listener's thread), and the inbox counts, a query over the whole table, are cached and
refreshed at most every few seconds by one scrape at a time, so neither a large inbox nor a
slow database nor a flood of scrapes delays an SNS delivery.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..alerts import AlertKind
from ..aws.queues import PollerStatus
from ..outcome import Outcome

if TYPE_CHECKING:
    from ..stores import InboxStore

__all__ = ["CachedCounts", "Metrics", "bearer_ok", "serve_metrics"]

#: Seconds a reading of the inbox counts is reused.
COUNTS_MAX_AGE = 5.0
#: Scrapes served at once by the separate metrics listener.
MAX_SCRAPES = 8


class CachedCounts:
    """``read()`` at most once per ``max_age`` seconds and one call at a time.

    A scrape that finds a refresh already running gets the previous value at once instead of
    queueing behind it (a stalled database would otherwise hold one thread per scrape). A
    failing read counts as "no samples" until the next refresh; /readyz says why.
    """

    def __init__(
        self,
        read: Callable[[], dict[str, int]],
        *,
        max_age: float = COUNTS_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._max_age = max_age
        self._clock = clock
        self._refreshing = threading.Lock()
        self._value: dict[str, int] = {}
        self._read_at = -math.inf

    def __call__(self) -> dict[str, int]:
        if self._clock() - self._read_at < self._max_age:
            return self._value
        if not self._refreshing.acquire(blocking=False):
            return self._value
        try:
            try:
                value = self._read()
            except Exception:  # an unreachable store shows as no samples
                value = {}
            self._value, self._read_at = value, self._clock()
        finally:
            self._refreshing.release()
        return self._value


ALERT_KINDS = tuple(kind.value for kind in AlertKind)


class _InboxCollector(Collector):
    """Inbox depth by status, from the (cached) store counts at scrape time."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("sns_inbox_messages", "Messages in the inbox by status", labels=["status"])

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering asks for the names: without this it would collect, i.e. count the inbox.
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        try:
            counts = self.counts()
        except Exception:  # an unreachable store shows as no samples, /readyz says why
            counts = {}
        for status, count in sorted(counts.items()):
            family.add_metric([str(status)], count)
        yield family


class _PollerCollector(Collector):
    """SQS poller health, read from the pollers at scrape time."""

    def __init__(self, statuses: Sequence[PollerStatus]) -> None:
        self.statuses = statuses

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "sns_queue_poller_up", "1 while the SQS poller receives without errors", labels=["queue"]
        )
        errors = GaugeMetricFamily(
            "sns_queue_poller_errors", "AWS errors seen by the SQS poller", labels=["queue"]
        )
        for status in self.statuses:
            state = status.as_dict()
            up.add_metric([status.queue], 1 if state["state"] in ("starting", "polling") else 0)
            errors.add_metric([status.queue], state["errors"])
        yield up
        yield errors


class _ReadingCollector(Collector):
    """One gauge read at scrape time from ``read`` (no sample when the read fails or gives
    None); with ``label``, ``read`` returns {label value: sample}."""

    def __init__(
        self, name: str, documentation: str, read: Callable[[], Any], label: str | None = None
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.read = read
        self.label = label

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=[self.label] if self.label else None)
        try:
            value = self.read()
        except Exception:  # an unreachable store shows as no sample, /readyz says why
            value = None
        if self.label and value is not None:
            for key, sample in sorted(value.items()):
                family.add_metric([key], sample)
        elif value is not None:
            family.add_metric([], value)
        yield family


class Metrics:
    def __init__(self, inbox_counts: Callable[[], dict[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sns_requests",
            "SNS requests by endpoint and result",
            ["endpoint", "result", "status"],
            registry=self.registry,
        )
        self.handle_seconds = Histogram(
            "sns_handle_seconds",
            "Time from request body to answer (parse, verify, store)",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.worker_results = Counter(
            "sns_worker_results",
            "Processed messages by outcome (done, retrying, deferred: a destination said later, dead)",
            ["result"],
            registry=self.registry,
        )
        self.verify_seconds = Histogram(
            "sns_verify_seconds",
            "Time to verify a message (policy checks, certificate, signature)",
            ["endpoint"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5),
            registry=self.registry,
        )
        self.action_results = Counter(
            "sns_action_results",
            "Handler/action runs by name and result (ok, failed, skipped: done on an earlier attempt)",
            ["action", "result"],
            registry=self.registry,
        )
        self.queue_messages = Counter(
            "sns_queue_messages",
            "SQS messages by queue and disposition (accepted, duplicate, rejected: left in the queue, retry)",
            ["queue", "result"],
            registry=self.registry,
        )
        self.delivery_lag_seconds = Histogram(
            "sns_delivery_lag_seconds",
            "Received by this service minus the SNS Timestamp, per processed message",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600),
            registry=self.registry,
        )
        if inbox_counts is not None:
            self.registry.register(_InboxCollector(CachedCounts(inbox_counts)))
        #: Called with the endpoint of every request answered 403 (verification failed).
        self.on_rejection: Callable[[str], None] | None = None
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}

    def add_reading(
        self, name: str, documentation: str, read: Callable[[], Any], *, label: str | None = None
    ) -> None:
        """A gauge whose value ``read`` returns at scrape time (store size, oldest message age);
        with ``label``, ``read`` returns one sample per label value."""
        self.registry.register(_ReadingCollector(name, documentation, read, label))

    def add_store_readings(self, store: InboxStore) -> None:
        """Gauges read from the store at scrape time: its size on disk, how long the oldest
        unclaimed message has waited, the open alerts by kind."""
        self.add_reading("sns_store_bytes", "Size of the inbox database on disk", store.database_bytes)

        def oldest_age() -> float:
            oldest = store.oldest_unclaimed()
            return 0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())

        def open_alerts() -> dict[str, int]:
            counts = dict.fromkeys(ALERT_KINDS, 0)
            for alert in store.list_alerts(open_only=True):
                counts[alert.kind] = counts.get(alert.kind, 0) + 1
            return counts

        self.add_reading(
            "sns_oldest_unclaimed_age_seconds",
            "Seconds the oldest message not yet claimed has waited",
            oldest_age,
        )
        self.add_reading("sns_alerts_open", "Open operational alerts by kind", open_alerts, label="kind")

    def delivery_lag(self, seconds: float) -> None:
        """Observe one message's delivery lag: received by us − its SNS Timestamp."""
        self.delivery_lag_seconds.observe(max(0.0, seconds))

    def observe(self, endpoint: str, outcome: Outcome, seconds: float) -> None:
        # labels() looks the child up under a lock each time; keep the few children we use.
        key = (endpoint, outcome.result, outcome.status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(
                endpoint, outcome.result, str(outcome.status)
            )
        histogram = self._latency_children.get(endpoint)
        if histogram is None:
            histogram = self._latency_children[endpoint] = self.handle_seconds.labels(endpoint)
        counter.inc()
        histogram.observe(seconds)
        if outcome.status == 403 and self.on_rejection is not None:
            self.on_rejection(endpoint)

    def worker_result(self, _message_id: str, result: str) -> None:
        self.worker_results.labels(result).inc()

    def action_result(self, action: str, result: str) -> None:
        self.action_results.labels(action, result).inc()

    def queue_message(self, queue: str, result: str) -> None:
        self.queue_messages.labels(queue, result).inc()

    def watch_pollers(self, statuses: Sequence[PollerStatus]) -> None:
        """Export each poller's state (1 = polling, 0 = backing off or stopped) and errors."""
        if statuses:
            self.registry.register(_PollerCollector(statuses))

    def verify_timer(self, endpoint: str) -> Callable[[float], None]:
        """A callback for :attr:`Verifier.timer` observing this endpoint's verify time."""
        return self.verify_seconds.labels(endpoint).observe


def bearer_ok(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries ``token`` as a bearer token (constant-time)."""
    if not header:
        return False
    scheme, _, credentials = header.partition(" ")
    ok = hmac.compare_digest(credentials.strip().encode("utf-8", "replace"), token.encode("utf-8"))
    return scheme.lower() == "bearer" and ok


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """A thread per scrape, at most :data:`MAX_SCRAPES` at once (more are closed unanswered)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_SCRAPES)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _QuietHandler(WSGIRequestHandler):
    #: Seconds a scraper may take to send its request (a slow client holds one thread at most this long).
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are counted by Prometheus; no line per request."""


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, token: str | None = None
) -> tuple[int, Callable[[], None]]:
    """Serve ``registry`` on its own listener (a thread, off the event loop), optionally
    behind a bearer token. Returns the bound port and a function that stops it."""
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if token is not None and not bearer_ok(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("WWW-Authenticate", 'Bearer realm="metrics"'),
                ],
            )
            return [b"bearer token required\n"]
        result: Iterable[bytes] = exposition(environ, start_response)
        return result

    server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="sns-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    return server.server_port, stop
