"""Prometheus metrics of one serving process (its own registry, not the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..aws.queues import PollerStatus
from ..outcome import Outcome

__all__ = ["Metrics"]


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
        self.queue_messages = Counter(
            "sns_queue_messages",
            "SQS messages by queue and disposition (accepted, duplicate, rejected: left in the queue, retry)",
            ["queue", "result"],
            registry=self.registry,
        )
        if inbox_counts is not None:
            self.registry.register(_InboxCollector(inbox_counts))
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}

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
