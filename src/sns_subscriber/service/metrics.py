"""Prometheus metrics of one serving process (its own registry, not the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..alerts import AlertKind
from ..outcome import Outcome

if TYPE_CHECKING:
    from ..stores import InboxStore

__all__ = ["Metrics"]

ALERT_KINDS = tuple(kind.value for kind in AlertKind)


class _InboxCollector(Collector):
    """Inbox depth by status, read from the store at scrape time."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("sns_inbox_messages", "Messages in the inbox by status", labels=["status"])
        try:
            counts = self.counts()
        except Exception:  # an unreachable store shows as no samples, /readyz says why
            counts = {}
        for status, count in sorted(counts.items()):
            family.add_metric([str(status)], count)
        yield family


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
            "Processed messages by outcome (done, retrying, dead)",
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
        self.delivery_lag_seconds = Histogram(
            "sns_delivery_lag_seconds",
            "Received by this service minus the SNS Timestamp, per processed message",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600),
            registry=self.registry,
        )
        if inbox_counts is not None:
            self.registry.register(_InboxCollector(inbox_counts))
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

    def verify_timer(self, endpoint: str) -> Callable[[float], None]:
        """A callback for :attr:`Verifier.timer` observing this endpoint's verify time."""
        return self.verify_seconds.labels(endpoint).observe
