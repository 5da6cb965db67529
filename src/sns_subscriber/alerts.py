"""Operational alerts: the receiver says when something is wrong, once, durably.

An :class:`AlertEvaluator` looks at the store and turns what it finds into *conditions*, each
identified by (kind, key): a dead message (key: its MessageId), a silent endpoint (key: its
path), SNS delivering late (path), a burst of signature failures (path), a subscription left
pending (endpoint and topic), no worker claiming messages ("inbox"), the store failing
("store"). The alert state lives in the store (``alerts`` table), and every change is one
conditional write, so whichever process runs the evaluator (``serve``, ``worker``, several of
them on one PostgreSQL database) exactly one of them sends each notification:

* a condition with no open alert **opens** it: one notification;
* an alert still open ``renotify`` after its last notification: one **reminder**;
* an open alert whose condition is gone **resolves**: one notification;
* a restart changes nothing: open alerts stay open, and are not announced again.

Store errors are the exception: with the store down there is nowhere shared to record them,
so each process tracks them in memory (one opening, reminders, one resolution per process).

A notification that cannot be sent is logged and tried again at the next evaluation.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from .exceptions import StoreUnavailableError
from .messages import parse_timestamp
from .stores.base import InboxStatus, InboxStore, SubscriptionState, utc_now

__all__ = [
    "AlertEvaluator",
    "AlertKind",
    "AlertNotice",
    "AlertSettings",
    "Condition",
    "Phase",
    "RejectionCounter",
]

logger = logging.getLogger("sns_subscriber.alerts")


class AlertKind(enum.StrEnum):
    DEAD_LETTER = "dead_letter"
    SILENCE = "silence"
    LAG = "lag"
    SIGNATURE_FAILURES = "signature_failures"
    PENDING_SUBSCRIPTION = "pending_subscription"
    WORKER_STALLED = "worker_stalled"
    STORE_ERRORS = "store_errors"


_TITLES: Final = {
    AlertKind.DEAD_LETTER: "dead letter",
    AlertKind.SILENCE: "endpoint silent",
    AlertKind.LAG: "SNS delivering late",
    AlertKind.SIGNATURE_FAILURES: "signature failures",
    AlertKind.PENDING_SUBSCRIPTION: "subscription pending",
    AlertKind.WORKER_STALLED: "worker stalled",
    AlertKind.STORE_ERRORS: "store errors",
}


#: Kinds whose state is in the store (store errors cannot be: the store is what fails).
_EVALUATED: Final = frozenset(kind.value for kind in AlertKind if kind is not AlertKind.STORE_ERRORS)


class Phase(enum.StrEnum):
    OPENED = "opened"
    REMINDER = "reminder"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Condition:
    """Something wrong right now."""

    kind: AlertKind
    key: str
    detail: str


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One notification about an alert, for the configured destinations."""

    kind: AlertKind
    key: str
    phase: Phase
    detail: str
    opened_at: datetime
    #: Notifications of this opening so far, this one included.
    count: int = 1

    @property
    def subject(self) -> str:
        word = {Phase.OPENED: "ALERT", Phase.REMINDER: "STILL OPEN", Phase.RESOLVED: "RESOLVED"}[self.phase]
        return f"[sns-subscriber] {word}: {_TITLES[self.kind]}: {self.key}"[:200]

    @property
    def text(self) -> str:
        since = f"{self.opened_at:%Y-%m-%d %H:%M:%S} UTC"
        if self.phase is Phase.RESOLVED:
            return f"Resolved (open since {since}).\n\n{self.detail}"
        return f"{self.detail}\n\n(open since {since}; notification {self.count})"


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """What to watch and when to speak; ``[alerts]`` and the endpoints' settings."""

    enabled: frozenset[AlertKind] = frozenset(AlertKind)
    renotify: timedelta = timedelta(hours=4)
    #: Endpoint path -> longest expected gap between two messages (``expect_within``).
    expect_within: Mapping[str, timedelta] = field(default_factory=dict)
    #: Endpoint path -> largest acceptable received − SNS Timestamp (``max_lag_seconds``).
    max_lag: Mapping[str, timedelta] = field(default_factory=dict)
    #: Lag is judged on the messages received within this window.
    lag_window: timedelta = timedelta(minutes=15)
    signature_failures_threshold: int = 20
    signature_failures_window: timedelta = timedelta(minutes=10)
    pending_subscription_after: timedelta = timedelta(hours=1)
    worker_stalled_after: timedelta = timedelta(minutes=5)
    store_errors_after: timedelta = timedelta(minutes=1)
    #: How a dead letter's detail tells the operator to replay it.
    replay_command: str = "sns-subscriber inbox replay {message_id}"
    #: Dead letters looked at per evaluation (the oldest open ones stay open).
    dead_letter_limit: int = 100


class RejectionCounter:
    """Signature failures (403) of the receiving process, per configured endpoint, in memory
    until :meth:`flush` adds them to the store. Bounded: only the given endpoints count."""

    def __init__(self, endpoints: Iterable[str]) -> None:
        self._counts = dict.fromkeys(endpoints, 0)
        self._lock = threading.Lock()

    def add(self, endpoint: str) -> None:
        if endpoint in self._counts:
            with self._lock:
                self._counts[endpoint] += 1

    def flush(self, store: InboxStore, now: datetime) -> None:
        with self._lock:
            taken = {endpoint: count for endpoint, count in self._counts.items() if count}
            for endpoint in taken:
                self._counts[endpoint] = 0
        minute = now.replace(second=0, microsecond=0)
        for endpoint, count in taken.items():
            try:
                store.add_signature_failures(endpoint, minute, count)
            except StoreUnavailableError:
                with self._lock:  # keep them for the next flush
                    self._counts[endpoint] += count
                raise


class AlertEvaluator:
    """Evaluates every enabled kind against ``store`` and calls ``notify`` once per notice."""

    def __init__(
        self,
        store: InboxStore,
        settings: AlertSettings,
        notify: Callable[[AlertNotice], None],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.settings = settings
        self.notify = notify
        self.clock = clock
        #: Silence is only judged once the evaluator has watched for a whole window.
        self.started_at = clock()
        self._store_failing_since: datetime | None = None
        self._store_alert: AlertNotice | None = None
        self._store_notified_at: datetime | None = None
        self.undecided: set[tuple[str, str]] = set()

    # -- one round ------------------------------------------------------------------------

    def evaluate(self) -> list[AlertNotice]:
        """One evaluation; returns the notices sent."""
        now = self.clock()
        try:
            self.store.ping()  # whatever kinds are enabled, a failing store is noticed
            conditions = self.conditions(now)
            sent = self._sync(conditions, now)
        except StoreUnavailableError as exc:
            return self._store_down(now, exc)
        return self._store_up(now) + sent

    def conditions(self, now: datetime) -> list[Condition]:
        """What is wrong now. Also fills ``undecided``: alerts this round cannot judge (they
        stay as they are, never resolved by an evaluator that did not look)."""
        self.undecided = set()
        found: list[Condition] = []
        enabled = self.settings.enabled
        if AlertKind.DEAD_LETTER in enabled:
            found += self._dead_letters()
        if AlertKind.SILENCE in enabled:
            found += self._silence(now)
        if AlertKind.LAG in enabled:
            found += self._lag(now)
        if AlertKind.SIGNATURE_FAILURES in enabled:
            found += self._signature_failures(now)
        if AlertKind.PENDING_SUBSCRIPTION in enabled:
            found += self._pending_subscriptions(now)
        if AlertKind.WORKER_STALLED in enabled:
            found += self._worker_stalled(now)
        return found

    def _sync(self, conditions: list[Condition], now: datetime) -> list[AlertNotice]:
        sent: list[AlertNotice] = []
        store = self.store
        current = {(c.kind, c.key) for c in conditions}
        for condition in conditions:
            kind, key = condition.kind, condition.key
            if store.open_alert(kind, key, detail=condition.detail, now=now):
                sent += self._send(AlertNotice(kind, key, Phase.OPENED, condition.detail, now))
                continue
            record = store.claim_reminder(kind, key, now=now, last_before=now - self.settings.renotify)
            if record is not None:
                notice = AlertNotice(
                    kind, key, Phase.REMINDER, condition.detail, record.opened_at, record.notifications
                )
                sent += self._send(notice)
        for record in store.list_alerts(open_only=True):
            if record.kind not in _EVALUATED or AlertKind(record.kind) not in self.settings.enabled:
                continue
            if (record.kind, record.key) in current or (record.kind, record.key) in self.undecided:
                continue
            if record.kind == AlertKind.DEAD_LETTER and self._still_dead(record.key):
                continue  # beyond this round's dead_letter_limit, still dead
            resolved = store.resolve_alert(record.kind, record.key, now=now)
            if resolved is not None:
                notice = AlertNotice(
                    AlertKind(record.kind),
                    record.key,
                    Phase.RESOLVED,
                    resolved.detail,
                    resolved.opened_at,
                    resolved.notifications,
                )
                sent += self._send(notice, retry=False)
        return sent

    def _send(self, notice: AlertNotice, *, retry: bool = True) -> list[AlertNotice]:
        try:
            self.notify(notice)
        except Exception:
            logger.exception("alert %s %s/%s could not be sent", notice.phase, notice.kind, notice.key)
            if retry and notice.kind is not AlertKind.STORE_ERRORS:
                self.store.alert_unsent(notice.kind, notice.key)
            return []
        logger.warning("alert %s: %s", notice.phase, notice.subject)
        return [notice]

    # -- store errors, tracked in memory --------------------------------------------------------

    def _store_down(self, now: datetime, exc: StoreUnavailableError) -> list[AlertNotice]:
        if self._store_failing_since is None:
            self._store_failing_since = now
        if now - self._store_failing_since < self.settings.store_errors_after:
            return []
        if AlertKind.STORE_ERRORS not in self.settings.enabled:
            return []
        detail = (
            f"The inbox store has been failing since {self._store_failing_since:%Y-%m-%d %H:%M:%S} UTC: {exc}"
        )
        if self._store_alert is None:
            self._store_alert = AlertNotice(AlertKind.STORE_ERRORS, "store", Phase.OPENED, detail, now)
            self._store_notified_at = now
            return self._send(self._store_alert)
        assert self._store_notified_at is not None
        if now - self._store_notified_at >= self.settings.renotify:
            self._store_notified_at = now
            count = self._store_alert.count + 1
            self._store_alert = AlertNotice(
                AlertKind.STORE_ERRORS, "store", Phase.REMINDER, detail, self._store_alert.opened_at, count
            )
            return self._send(self._store_alert)
        return []

    def _store_up(self, now: datetime) -> list[AlertNotice]:
        self._store_failing_since = None
        alert, self._store_alert = self._store_alert, None
        if alert is None:
            return []
        notice = AlertNotice(
            AlertKind.STORE_ERRORS,
            "store",
            Phase.RESOLVED,
            "The inbox store answers again.",
            alert.opened_at,
            alert.count,
        )
        return self._send(notice)

    # -- the checks ----------------------------------------------------------------------------

    def _dead_letters(self) -> list[Condition]:
        found = []
        for record in self.store.list_messages(
            status=InboxStatus.DEAD, limit=self.settings.dead_letter_limit
        ):
            command = self.settings.replay_command.format(message_id=record.message_id)
            detail = (
                f"Message {record.message_id} on endpoint {record.endpoint} is dead after "
                f"{record.attempts} attempt(s).\n"
                f"Producer: {_producer(record.body, record.raw_delivery)}\n"
                f"Topic: {record.topic_arn}\n"
                f"Last error: {(record.last_error or '-')[:500]}\n"
                f"Replay it (after fixing the cause) with:\n  {command}"
            )
            found.append(Condition(AlertKind.DEAD_LETTER, record.message_id, detail))
        return found

    def _still_dead(self, message_id: str) -> bool:
        record = self.store.get(message_id)
        return record is not None and record.status is InboxStatus.DEAD

    def _silence(self, now: datetime) -> list[Condition]:
        found = []
        for endpoint, window in self.settings.expect_within.items():
            since = now - window
            if self.store.last_received(endpoint, since=since) is not None:
                continue  # a message arrived within the window: not silent
            if since < self.started_at:
                # Not watched for a whole window yet; another process that has may have an
                # alert open, which this one must leave alone.
                self.undecided.add((AlertKind.SILENCE, endpoint))
                continue
            detail = (
                f"No message arrived on {endpoint} within {_span(window)} (expect_within). "
                "Check the SNS subscription, the producer, and the route to this receiver."
            )
            found.append(Condition(AlertKind.SILENCE, endpoint, detail))
        return found

    def _lag(self, now: datetime) -> list[Condition]:
        limits = self.settings.max_lag
        if not limits:
            return []
        worst: dict[str, tuple[float, int]] = {}
        for record in self.store.list_messages(limit=500):
            if record.received_at < now - self.settings.lag_window:
                break  # newest first: the rest is older
            limit = limits.get(record.endpoint)
            if limit is None or record.raw_delivery or record.message_type != "Notification":
                continue
            lag = _lag_seconds(record.body, record.received_at)
            if lag is not None and lag > limit.total_seconds():
                seconds, count = worst.get(record.endpoint, (0.0, 0))
                worst[record.endpoint] = (max(seconds, lag), count + 1)
        found = []
        for endpoint, (seconds, count) in sorted(worst.items()):
            detail = (
                f"SNS delivered {count} message(s) to {endpoint} late in the last {_span(self.settings.lag_window)}: "
                f"up to {seconds:.0f} s after their Timestamp (max_lag_seconds = "
                f"{limits[endpoint].total_seconds():.0f}). SNS retries with back-off when this receiver "
                "answers slowly or with errors."
            )
            found.append(Condition(AlertKind.LAG, endpoint, detail))
        return found

    def _signature_failures(self, now: datetime) -> list[Condition]:
        window = self.settings.signature_failures_window
        self.store.prune_signature_failures(now - max(window, timedelta(hours=1)))
        found = []
        for endpoint, count in sorted(self.store.count_signature_failures(now - window).items()):
            if count >= self.settings.signature_failures_threshold:
                detail = (
                    f"{count} request(s) to {endpoint} failed verification (403) in the last {_span(window)} "
                    f"(threshold {self.settings.signature_failures_threshold}): someone probing the endpoint, "
                    "or a topic that is not in its allow-list."
                )
                found.append(Condition(AlertKind.SIGNATURE_FAILURES, endpoint, detail))
        return found

    def _pending_subscriptions(self, now: datetime) -> list[Condition]:
        seen: set[tuple[str, str]] = set()
        found = []
        for event in self.store.list_subscriptions():  # newest first
            pair = (event.endpoint, event.topic_arn)
            if pair in seen:
                continue
            seen.add(pair)
            waiting = event.state in (SubscriptionState.PENDING, SubscriptionState.FAILED)
            if waiting and now - event.created_at >= self.settings.pending_subscription_after:
                if event.state is SubscriptionState.PENDING:
                    how = f"Confirm it with:\n  sns-subscriber subscriptions confirm {event.id}"
                else:
                    how = (
                        f"Its confirmation failed ({(event.detail or 'no detail')[:300]}); fix the cause, "
                        "then subscribe the endpoint again."
                    )
                detail = (
                    f"The subscription of {event.endpoint} to {event.topic_arn} has been pending since "
                    f"{event.created_at:%Y-%m-%d %H:%M:%S} UTC. SNS deletes unconfirmed subscriptions after "
                    f"48 hours. {how}"
                )
                found.append(
                    Condition(AlertKind.PENDING_SUBSCRIPTION, f"{event.endpoint} {event.topic_arn}", detail)
                )
        return found

    def _worker_stalled(self, now: datetime) -> list[Condition]:
        oldest = self.store.oldest_unclaimed()
        if oldest is None or now - oldest < self.settings.worker_stalled_after:
            return []
        detail = (
            f"The oldest accepted message has waited for a worker since {oldest:%Y-%m-%d %H:%M:%S} UTC "
            f"(more than {_span(self.settings.worker_stalled_after)}): no worker is running, or they are stuck."
        )
        return [Condition(AlertKind.WORKER_STALLED, "inbox", detail)]


def _producer(body: bytes, raw_delivery: bool) -> str:
    if raw_delivery:
        return "raw delivery"
    from .messages import Notification  # noqa: PLC0415 - only for dead letters
    from .parsing import parse  # noqa: PLC0415
    from .producers import detect  # noqa: PLC0415

    try:
        message = parse(body, max_bytes=max(len(body), 1))
    except Exception:
        return "unknown"
    if not isinstance(message, Notification):
        return message.type
    return str(getattr(detect(message), "producer", "unknown"))


def _lag_seconds(body: bytes, received_at: datetime) -> float | None:
    try:
        timestamp = json.loads(body).get("Timestamp")
    except (ValueError, AttributeError):
        return None
    sent = parse_timestamp(timestamp) if isinstance(timestamp, str) else None
    return None if sent is None else (received_at - sent).total_seconds()


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
