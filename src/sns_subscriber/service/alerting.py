"""Alerts as the TOML file drives them: settings, destinations, and the loop that evaluates.

``[alerts] to`` names destinations in the action syntax: ``email:<address>`` (through the
configured e-mail backend), ``slack:<name>`` and ``webhook:<name>`` (a ``[[webhooks]]``
entry, through the same :class:`~sns_subscriber.actions.webhook.WebhookAction` endpoints use).
An alert reaches those as a message of its own: a Notification whose Subject and Message are
the alert's, with an :class:`~sns_subscriber.alerts.AlertNotice` as its event.

``serve`` and ``worker`` each run an :class:`AlertingLoop` (a daemon thread): it adds the
process's signature failures to the store, then evaluates. Several processes may run one:
the store decides who sends each notification.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from ..alerts import AlertEvaluator, AlertKind, AlertNotice, AlertSettings, RejectionCounter
from ..delivery import Delivery
from ..exceptions import StoreUnavailableError
from ..messages import Notification
from .config import Config, parse_duration

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["AlertingLoop", "alert_settings", "destinations", "start_alerting"]

logger = logging.getLogger("sns_subscriber.alerts")

Destination = Callable[[AlertNotice], None]


def alert_settings(config: Config) -> AlertSettings:
    get = config.get
    enabled = frozenset(kind for kind in AlertKind if get(f"alerts.{kind.value}"))
    command = "sns-subscriber inbox replay {message_id}"
    if config.source != "<defaults>":
        command += f" --config {config.source}"
    return AlertSettings(
        enabled=enabled,
        renotify=timedelta(minutes=get("alerts.renotify_minutes")),
        expect_within={
            e.path: timedelta(seconds=parse_duration(e.expect_within))
            for e in config.endpoints
            if e.expect_within
        },
        max_lag={e.path: timedelta(seconds=e.max_lag_seconds) for e in config.endpoints if e.max_lag_seconds},
        signature_failures_threshold=get("alerts.signature_failures_threshold"),
        signature_failures_window=timedelta(minutes=get("alerts.signature_failures_window_minutes")),
        pending_subscription_after=timedelta(minutes=get("alerts.pending_subscription_minutes")),
        worker_stalled_after=timedelta(seconds=get("alerts.worker_stalled_seconds")),
        store_errors_after=timedelta(seconds=get("alerts.store_errors_seconds")),
        replay_command=command,
    )


def _delivery(notice: AlertNotice) -> Delivery:
    """The alert as a message, for the actions that forward messages (Slack, webhooks)."""
    now = datetime.now(UTC)
    message = Notification(
        message_id=f"alert:{notice.kind}:{notice.key}:{notice.phase}:{notice.count}"[:300],
        topic_arn="sns-subscriber:alerts",
        message=notice.text,
        subject=notice.subject,
        timestamp=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        signature_version="",
        signature="",
        signing_cert_url="",
    )
    return Delivery(message=message, event=None, endpoint="alerts", resolution=notice.phase == "resolved")


def _email(address: str, sender: str, backend: Any) -> Destination:
    def send(notice: AlertNotice) -> None:
        email = EmailMessage()
        email["From"] = sender
        email["To"] = address
        email["Subject"] = notice.subject
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(notice.text)
        backend.send(email)

    return send


def _forward(handler: Callable[[Delivery], Any]) -> Destination:
    def send(notice: AlertNotice) -> None:
        handler(_delivery(notice))

    return send


def destinations(config: Config, closers: list[Callable[[], None]]) -> list[Destination]:
    """One callable per ``[alerts] to`` entry."""
    from .actions import _email_backend, make_action  # noqa: PLC0415 - jinja2 and friends

    cache: dict[str, Any] = {}
    out: list[Destination] = []
    for entry in config.get("alerts.to"):
        kind, _, target = entry.partition(":")
        if kind == "email":
            out.append(_email(target, config.get("email.from"), _email_backend(config, cache, closers)))
        else:
            out.append(_forward(make_action(entry, config, cache, closers)))
    return out


def fan_out(targets: list[Destination]) -> Destination:
    """Send to every destination; fail (so the evaluator retries) only if none got it."""

    def send(notice: AlertNotice) -> None:
        errors: list[Exception] = []
        for target in targets:
            try:
                target(notice)
            except Exception as exc:
                logger.warning("alert destination failed: %s", exc)
                errors.append(exc)
        if errors and len(errors) == len(targets):
            raise errors[0]

    return send


class AlertingLoop:
    """A daemon thread: every ``every`` seconds, flush this process's 403 counts, evaluate."""

    def __init__(
        self, evaluator: AlertEvaluator, rejections: RejectionCounter | None, *, every: float
    ) -> None:
        self.evaluator = evaluator
        self.rejections = rejections
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sns-alerts", daemon=True)

    def start(self) -> AlertingLoop:
        self._thread.start()
        return self

    def run_once(self) -> list[AlertNotice]:
        if self.rejections is not None:
            # When the store fails, the evaluation reports it; the counts wait for the next round.
            with contextlib.suppress(StoreUnavailableError):
                self.rejections.flush(self.evaluator.store, self.evaluator.clock())
        return self.evaluator.evaluate()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception:  # alerting must never take the process down
                logger.exception("alert evaluation failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


def start_alerting(runtime: Runtime) -> AlertingLoop | None:
    """Start the alert loop for ``runtime`` if ``[alerts] to`` names any destination."""
    config = runtime.config
    targets = destinations(config, runtime.closers)
    if not targets:
        return None
    evaluator = AlertEvaluator(runtime.store, alert_settings(config), fan_out(targets))
    loop = AlertingLoop(evaluator, runtime.rejections, every=config.get("alerts.evaluate_every_seconds"))
    runtime.closers.append(loop.stop)
    return loop.start()
