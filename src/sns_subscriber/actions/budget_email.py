"""E-mail each AWS Budgets alert to the owners of the budget, once per recipient.

Register :class:`BudgetEmailAction` as a handler (``event=BudgetAlert``). For every recipient
its resolver returns, it renders the text and HTML templates and hands the e-mail to the
backend inside :meth:`Delivery.once`, keyed by the address: when SNS redelivers the message,
an operator replays it, or the worker retries after one recipient failed, recipients who
already got their e-mail do not get it again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any, Final

from ..delivery import SKIPPED, Delivery
from ..exceptions import ConfigurationError, EmailSendError
from ..producers.budgets import BudgetAlert, format_percent
from .budget_facts import BudgetFacts, budget_facts
from .email import EmailBackend, Templates
from .owners import OwnerResolver, Recipient, clean_display_text, unique_recipients, validate_email_address

if TYPE_CHECKING:
    import jinja2

    from .budget_digest import DigestQueue

__all__ = ["BudgetEmailAction", "EmailSendError", "budget_alert_context"]

logger = logging.getLogger("sns_subscriber.actions.budget_email")

TEXT_TEMPLATE: Final = "budget_alert.txt.j2"
HTML_TEMPLATE: Final = "budget_alert.html.j2"
SUBJECT_TEMPLATE: Final = "budget_alert.subject.j2"

_MEASURES: Final = {
    "cost": "cost",
    "usage": "usage",
    "ri_utilization": "utilization",
    "ri_coverage": "coverage",
    "savings_plans_utilization": "utilization",
    "savings_plans_coverage": "coverage",
}
_BUDGET_TYPES: Final = {
    "cost": "Cost",
    "usage": "Usage",
    "ri_utilization": "Reservation utilization",
    "ri_coverage": "Reservation coverage",
    "savings_plans_utilization": "Savings Plans utilization",
    "savings_plans_coverage": "Savings Plans coverage",
}
_PERIOD_TEXT: Final = {
    "daily": "for the previous day",
    "monthly": "for the current month",
    "quarterly": "for the current quarter",
    "annual": "for the current year",
}
# The e-mail must never let its reader unsubscribe the endpoint, even if a
# link like that was published inside the alert text itself.
# Matched token by token (whitespace-delimited), each pattern at most once per token, so the
# cost is linear: one pattern spanning "https?://\S*[?&]Action=Unsubscribe\S*" re-scanned a
# long token from every "http" inside it (quadratic: seconds for a 30 KB signed message).
_SCHEME: Final = re.compile(r"https?://", re.IGNORECASE)
_UNSUBSCRIBE_ACTION: Final = re.compile(r"[?&]Action=Unsubscribe", re.IGNORECASE)
_BLANKS: Final = re.compile(r"(\s+)")
_HEADER_TOKEN: Final = re.compile(r"[^A-Za-z0-9._:-]+")
_MAX_SUBJECT: Final = 200


def _redact(text: str, unsubscribe_url: str | None) -> str:
    if unsubscribe_url:
        text = text.replace(unsubscribe_url, "[link removed]")
    if _UNSUBSCRIBE_ACTION.search(text) is None:
        return text
    # From the first "http(s)://" of a token holding "?Action=Unsubscribe" (or "&...") after
    # it, to the end of the token.
    parts = _BLANKS.split(text)
    for index in range(0, len(parts), 2):  # even indexes are tokens, odd ones the blanks
        token = parts[index]
        scheme = _SCHEME.search(token)
        if scheme is not None and _UNSUBSCRIBE_ACTION.search(token, scheme.end()) is not None:
            parts[index] = token[: scheme.start()] + "[link removed]"
    return "".join(parts)


def _lead(facts: BudgetFacts, measure: str, period_text: str | None) -> str:
    """The opening sentence, the same in both parts."""
    budget = f'Your AWS budget "{facts.budget_name}"' if facts.budget_name else "One of your AWS budgets"
    account = f" (AWS account {facts.account_id})" if facts.account_id else ""
    when = f" {period_text}" if period_text else ""
    head = f"{budget}{account} {facts.verb} {facts.threshold}"
    if facts.amount is None:
        return f"{head}{when}."
    if facts.is_forecast:
        return f"{head}: its {measure}{when} is forecast to reach {facts.amount}."
    if facts.alert_type == "ACTUAL":
        return f"{head}: its actual {measure}{when} is {facts.amount}."
    return f"{head}: its {measure}{when} is {facts.amount}."


def budget_alert_context(
    alert: BudgetAlert, recipient: Recipient, *, sns_message_id: str = "", unsubscribe_url: str | None = None
) -> dict[str, Any]:
    """The variables the templates see. Unknown facts are ``None``, never the text "None".

    ``paragraphs`` and ``details`` are what both parts say, in order, so the plain-text and
    the HTML e-mail cannot tell different stories.
    """
    facts = budget_facts(alert)
    budget_type = _BUDGET_TYPES.get(alert.budget_type or "")
    measure = _MEASURES.get(alert.budget_type or "", "cost")
    percent = format_percent(alert.threshold_percent) if alert.threshold_percent is not None else None
    amount_label = {"ACTUAL": "Actual amount", "FORECASTED": "Forecasted amount"}.get(
        alert.alert_type or "", "Amount"
    )
    period_text = _PERIOD_TEXT.get(alert.period or "")
    threshold = facts.threshold if facts.threshold_percent or facts.threshold_amount else None
    if threshold and facts.threshold_amount and facts.threshold_amount not in threshold:
        threshold += f" ({facts.threshold_amount})"
    progress = facts.progress
    period = None
    if alert.period and progress is not None:
        period = f"{alert.period.capitalize()}: {progress.text}"
    elif alert.period and period_text:
        period = f"{alert.period.capitalize()} ({period_text})"
    paragraphs = [_lead(facts, measure, period_text)]
    if facts.is_forecast:
        paragraphs.append(
            "This is a forecast: the spending has not happened yet, so there is still time to act."
        )
    if not alert.complete:
        paragraphs.append(
            "This alert could not be read completely. What is known is listed below, "
            "followed by the alert exactly as AWS sent it."
        )
    details = [
        ("Budget", facts.budget_name),
        ("Alert type", alert.alert_type),
        ("Alert threshold", threshold),
        ("Budgeted amount", facts.budgeted),
        (amount_label, facts.amount),
        ("Budget type", budget_type),
        ("Period", period),
        ("AWS account", alert.account_id),
        ("Notification date", facts.notification_date),
    ]
    return {
        "alert": alert,
        "facts": facts,
        "recipient": recipient,
        "name": recipient.name,
        "reason": recipient.reason,
        "budget_name": facts.budget_name,
        "alert_type": alert.alert_type,
        "is_forecast": facts.is_forecast,
        "measure": measure,
        "percent": percent,
        "threshold_percent": facts.threshold_percent,
        "threshold_amount": facts.threshold_amount,
        "budgeted": facts.budgeted,
        "amount": facts.amount,
        "amount_label": amount_label,
        "period": alert.period,
        "period_text": period_text,
        "progress": progress,
        "account_id": alert.account_id,
        "notification_date": facts.notification_date,
        "budget_type": budget_type,
        "complete": alert.complete,
        "headline": facts.headline,
        "summary": facts.summary,
        "console_url": facts.console_url,
        "paragraphs": paragraphs,
        "details": [(label, value) for label, value in details if value],
        "raw": _redact(alert.raw, unsubscribe_url).strip(),
        "sns_message_id": sns_message_id,
    }


def sender_address(sender: str) -> Address:
    """The ``From`` address of ``"alerts@example.com"`` or ``"Cost alerts <alerts@example.com>"``;
    ``ConfigurationError`` for anything that could break a header."""
    return _sender(sender)


def _sender(sender: str) -> Address:
    if not isinstance(sender, str) or "\r" in sender or "\n" in sender:
        raise ConfigurationError(f"invalid sender {sender!r}", value=str(sender))
    name, address = parseaddr(sender)
    validate_email_address(address or sender, what="sender address")
    return Address(display_name=clean_display_text(name) or "", addr_spec=address)


def _one_line(text: str) -> str:
    line = clean_display_text(text) or ""
    return line if len(line) <= _MAX_SUBJECT else line[: _MAX_SUBJECT - 1] + "…"


class BudgetEmailAction:
    """A handler that e-mails a :class:`BudgetAlert` to its owners.

    ``resolver`` returns the recipients of an alert (see
    :data:`~sns_subscriber.actions.owners.OwnerResolver`); ``sender`` is the ``From``
    address (``"alerts@example.com"`` or ``"Cost alerts <alerts@example.com>"``).
    ``templates`` overrides the built-in templates (``budget_alert.txt.j2``,
    ``budget_alert.html.j2``, ``budget_alert.subject.j2``); ``subject_template`` is Jinja
    source for the subject, rendered with the same variables (e.g.
    ``"[{{ account_id }}] {{ budget_name }} at {{ threshold_percent }}"``). With ``digests``,
    recipients whose ``digest`` is set get the alert in their daily or weekly digest instead.

    Templates are loaded here, so a missing extra, a missing file or a syntax error fails at
    start-up, not on the first alert. Other events than ``BudgetAlert`` are ignored.
    """

    def __init__(
        self,
        backend: EmailBackend,
        resolver: OwnerResolver,
        *,
        sender: str,
        templates: Templates | None = None,
        subject_template: str | None = None,
        digests: DigestQueue | None = None,
    ) -> None:
        if not callable(resolver):
            raise ConfigurationError(f"resolver must be callable, not {type(resolver).__name__}")
        self.backend = backend
        self.resolver = resolver
        # Framework adapters name routes and views after handler.__name__, as for a function.
        self.__name__ = "budget_email"
        self.sender = _sender(sender)
        self.templates = templates if templates is not None else Templates()
        self.digests = digests
        self._text: jinja2.Template = self.templates.get(TEXT_TEMPLATE)
        self._html: jinja2.Template = self.templates.get(HTML_TEMPLATE)
        self._subject: jinja2.Template = (
            self.templates.from_string(subject_template)
            if subject_template is not None
            else self.templates.get(SUBJECT_TEMPLATE)
        )
        domain = self.sender.domain
        # Message-ID is ASCII-only; an internationalised sender domain gets a neutral one.
        self._id_domain = domain if domain.isascii() else "sns-subscriber.invalid"

    def __repr__(self) -> str:
        return f"BudgetEmailAction({self.backend!r}, sender={str(self.sender)!r})"

    def __call__(self, delivery: Delivery) -> object:
        alert = delivery.event
        if not isinstance(alert, BudgetAlert):
            return None
        recipients = self._recipients(alert)
        if not recipients:
            logger.warning(
                "budget alert for budget %r (account %s) in message %s reached nobody: no owner and "
                "no fallback recipient; name an owner ([[budget_owners]], the owner tag) or set "
                "email.fallback",
                clean_display_text(alert.budget_name),
                alert.account_id,
                delivery.message_id,
            )
            return SKIPPED
        failures: list[tuple[Recipient, Exception]] = []
        for recipient in recipients:
            key = recipient.email.lower()
            step = functools.partial(self._send, delivery, alert, recipient)
            if recipient.digest and self.digests is not None:
                key = f"digest:{key}"
                step = functools.partial(self.digests.add, delivery, alert, recipient)
            try:
                delivery.once(key, step)
            except Exception as exc:
                # Keep going: one unreachable mailbox must not hold back the other owners'
                # e-mails until the retry. The ledger remembers who was served.
                logger.warning(
                    "budget alert e-mail to %s failed (message %s): %s: %s",
                    recipient.email,
                    delivery.message_id,
                    type(exc).__name__,
                    exc,
                )
                failures.append((recipient, exc))
        if len(failures) == 1:
            raise failures[0][1]
        if failures:
            summary = "; ".join(f"{r.email}: {type(e).__name__}: {e}" for r, e in failures)
            raise EmailSendError(
                f"{len(failures)} of {len(recipients)} budget alert e-mails failed: {summary}",
                message_id=delivery.message_id,
            ) from failures[0][1]
        return None

    def _recipients(self, alert: BudgetAlert) -> list[Recipient]:
        found: Sequence[Recipient] = list(self.resolver(alert))  # a generator is fine too
        for recipient in found:
            if not isinstance(recipient, Recipient):
                raise TypeError(f"the owner resolver returned {type(recipient).__name__}, not Recipient")
        return unique_recipients(found)

    def _send(self, delivery: Delivery, alert: BudgetAlert, recipient: Recipient) -> None:
        message = self.build_message(delivery, alert, recipient)
        self.backend.send(message)
        logger.info("budget alert e-mail for %r sent (message %s)", alert.budget_name, delivery.message_id)

    def build_message(self, delivery: Delivery, alert: BudgetAlert, recipient: Recipient) -> EmailMessage:
        """The e-mail for one recipient (exposed for previews and tests)."""
        context = budget_alert_context(
            alert,
            recipient,
            sns_message_id=_HEADER_TOKEN.sub("", delivery.message_id)[:128],
            unsubscribe_url=getattr(delivery.message, "unsubscribe_url", None),
        )
        subject = _one_line(self._subject.render(context))
        context["subject"] = subject
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient.address
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = self._message_id(delivery, recipient)
        message["X-SNS-Message-Id"] = context["sns_message_id"] or "unknown"
        # Out-of-office and vacation responders must not answer an automatic alert (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        # Quoted-printable keeps the parts readable in .eml files and the console.
        message.set_content(self._text.render(context), cte="quoted-printable")
        message.add_alternative(self._html.render(context), subtype="html", cte="quoted-printable")
        return message

    def _message_id(self, delivery: Delivery, recipient: Recipient) -> str:
        # Stable per (message, handler, recipient): if a crash between "sent" and "recorded"
        # makes us send again, mail systems that collapse equal Message-IDs hide the copy.
        seed = f"{delivery.message_id}\n{delivery.handler_name}\n{recipient.email.lower()}"
        digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
        return f"<budget-alert.{digest}@{self._id_domain}>"
