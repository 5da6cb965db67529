"""Daily or weekly digests: a recipient's budget alerts collected and sent as one e-mail.

An owner with ``digest = "daily"`` (or ``"weekly"``) does not get an e-mail per alert: the
:class:`~sns_subscriber.actions.budget_email.BudgetEmailAction` queues the alert in the store
(:class:`DigestQueue`, durable, once per message and recipient) and a :class:`DigestSender`
sends each recipient's due alerts as one e-mail at ``hour`` (UTC) every day, or every
``weekday`` for weekly digests. The store hands one recipient's items to one sender at a time
and marks them sent after the e-mail went out, so a digest is never sent twice across
restarts or processes; a sender that crashed mid-way leaves its claim to expire, and the
stable Message-ID lets mail systems drop the rare copy that follows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Final

from ..delivery import Delivery
from ..exceptions import ConfigurationError
from ..producers.budgets import BudgetAlert, parse_budget_alert
from ..stores.base import DigestItem, InboxStore, as_utc, utc_now
from .budget_facts import budget_facts
from .email import EmailBackend, Templates
from .owners import Recipient

if TYPE_CHECKING:
    import jinja2

__all__ = ["DIGEST_FREQUENCIES", "DigestQueue", "DigestSender", "next_digest_time"]

logger = logging.getLogger("sns_subscriber.actions.budget_digest")

DIGEST_FREQUENCIES: Final = ("daily", "weekly")
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TEXT_TEMPLATE: Final = "budget_digest.txt.j2"
HTML_TEMPLATE: Final = "budget_digest.html.j2"
# "Send now" takes every pending item: nothing is ever due further out than a week.
_EVERYTHING: Final = timedelta(days=8)


def check_schedule(hour: int, weekday: str) -> None:
    if not 0 <= hour <= 23:
        raise ConfigurationError("budgets.digest_hour must be 0-23 (UTC)", value=str(hour))
    if weekday not in WEEKDAYS:
        raise ConfigurationError(
            f"budgets.digest_weekday must be one of {', '.join(WEEKDAYS)}", value=weekday
        )


def next_digest_time(now: datetime, frequency: str, *, hour: int, weekday: str = "monday") -> datetime:
    """The first digest time after ``now`` (UTC): today or a later day at ``hour``:00; for a
    weekly digest, the next ``weekday``."""
    check_schedule(hour, weekday)
    now = as_utc(now)
    due = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if due <= now:
        due += timedelta(days=1)
    if frequency == "weekly":
        due += timedelta(days=(WEEKDAYS.index(weekday) - due.weekday()) % 7)
    elif frequency != "daily":
        raise ConfigurationError("digest must be daily or weekly", value=frequency)
    return due


class DigestQueue:
    """Queues alerts for digest recipients in the store."""

    def __init__(
        self,
        store: InboxStore,
        *,
        hour: int = 8,
        weekday: str = "monday",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        check_schedule(hour, weekday)
        self.store = store
        self.hour = hour
        self.weekday = weekday
        self.clock = clock

    def add(self, delivery: Delivery, alert: BudgetAlert, recipient: Recipient) -> None:
        frequency = recipient.digest or "daily"
        payload = {
            "email": recipient.email,
            "name": recipient.name,
            "reason": recipient.reason,
            "alert": alert.raw,
        }
        item = DigestItem(
            recipient=recipient.email.lower(),
            message_id=delivery.message_id,
            due_at=next_digest_time(self.clock(), frequency, hour=self.hour, weekday=self.weekday),
            payload=json.dumps(payload),
        )
        if self.store.add_digest_item(item):
            logger.info(
                "budget alert for %r queued for the %s digest of %s (due %s)",
                alert.budget_name,
                frequency,
                recipient.email,
                item.due_at.isoformat(),
            )


class DigestSender:
    """Sends due digests: one e-mail per recipient with every alert waiting for them."""

    def __init__(
        self,
        store: InboxStore,
        backend: EmailBackend,
        *,
        sender: Any,
        templates: Templates | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 300.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.clock = clock
        self.backend = backend
        self.sender = sender  # an email.headerregistry.Address, as BudgetEmailAction keeps it
        self.templates = templates if templates is not None else Templates()
        self._text: jinja2.Template = self.templates.get(TEXT_TEMPLATE)
        self._html: jinja2.Template = self.templates.get(HTML_TEMPLATE)
        self.worker_id = worker_id or f"digest:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        domain = getattr(sender, "domain", "") or ""
        self._id_domain = domain if domain.isascii() and domain else "sns-subscriber.invalid"

    def send_due(self, *, everything: bool = False) -> int:
        """Send every digest that is due (all pending ones with ``everything``); return how
        many e-mails went out. A failure releases that digest for the next pass and ends this
        one (the mail server is likely down for the others too)."""
        sent = 0
        due_by = self.clock() + _EVERYTHING if everything else None
        while True:
            items = self.store.claim_digest(self.worker_id, due_by=due_by, lease_seconds=self.lease_seconds)
            if not items:
                return sent
            ids = [item.id for item in items if item.id is not None]
            try:
                self.backend.send(self.build_message(items))
            except Exception as exc:
                self.store.finish_digest(self.worker_id, ids, sent=False)
                logger.warning(
                    "digest of %d alert(s) to %s failed, kept for the next try: %s: %s",
                    len(items),
                    items[0].recipient,
                    type(exc).__name__,
                    exc,
                )
                return sent
            self.store.finish_digest(self.worker_id, ids, sent=True)
            sent += 1
            logger.info("digest of %d budget alert(s) sent to %s", len(items), items[0].recipient)

    def run(self, stop: threading.Event, *, interval: float = 60.0) -> None:
        """Send due digests every ``interval`` seconds until ``stop`` is set."""
        while not stop.wait(interval):
            try:
                self.send_due()
            except Exception:  # the next pass tries again; the worker thread must not die
                logger.exception("sending digests failed")

    def build_message(self, items: Sequence[DigestItem]) -> EmailMessage:
        """The digest e-mail for one recipient's items (exposed for previews and tests)."""
        entries = []
        first: dict[str, Any] = {}
        for item in items:
            data = json.loads(item.payload)
            first = first or data
            facts = budget_facts(parse_budget_alert(str(data.get("alert", ""))))
            entries.append({"facts": facts, "reason": data.get("reason"), "progress": facts.progress})
        recipient = Recipient(str(first.get("email") or items[0].recipient), first.get("name"))
        names = list(dict.fromkeys(e["facts"].budget_name or "unnamed budget" for e in entries))
        count = f"{len(entries)} alert{'s' if len(entries) != 1 else ''}"
        shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        subject = f"AWS budgets digest: {count} ({shown})"
        reasons = list(dict.fromkeys(e["reason"] for e in entries if e["reason"]))
        context = {
            "subject": subject,
            "name": recipient.name,
            "entries": entries,
            "count": count,
            "reasons": reasons,
        }
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient.address
        message["Subject"] = subject[:200]
        message["Date"] = format_datetime(as_utc(self.clock()))
        seed = "\n".join(str(item.id) for item in items) + "\n" + items[0].recipient
        message["Message-ID"] = (
            f"<budget-digest.{hashlib.sha256(seed.encode()).hexdigest()[:32]}@{self._id_domain}>"
        )
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(self._text.render(context), cte="quoted-printable")
        message.add_alternative(self._html.render(context), subtype="html", cte="quoted-printable")
        return message
