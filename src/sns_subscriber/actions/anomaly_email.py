"""E-mail each AWS Cost Anomaly Detection alert to the owners of the account or monitor.

An anomaly names the monitor that found it and, in its root causes, the linked accounts whose
spend moved. ``[[anomaly_owners]]`` entries claim anomalies by linked account (12 digits), by
monitor name (a glob), or both; every matching owner gets one e-mail (once per recipient, as
for budget alerts). Anomalies no owner claims go to the ``[email] fallback`` recipients, who
are told why.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final

from ..delivery import SKIPPED, Delivery
from ..exceptions import ConfigurationError
from ..producers import CostAnomaly
from .budget_facts import money
from .email import EmailBackend, Templates
from .owners import Recipient, clean_display_text, unique_recipients, validate_email_address

if TYPE_CHECKING:
    import jinja2

__all__ = ["AnomalyEmailAction", "AnomalyOwner", "AnomalyOwnerResolver", "anomaly_context"]

logger = logging.getLogger("sns_subscriber.actions.anomaly_email")

TEXT_TEMPLATE: Final = "anomaly_alert.txt.j2"
HTML_TEMPLATE: Final = "anomaly_alert.html.j2"
_DETAILS_LINK: Final = "https://console.aws.amazon.com/cost-management/home#/anomaly-detection"


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyOwner:
    """A configured owner of anomalies: of a linked ``account``, of a ``monitor`` (glob on the
    monitor name), or of both (then both must match)."""

    email: str
    name: str | None = None
    account: str | None = None
    monitor: str | None = None

    def __post_init__(self) -> None:
        validate_email_address(self.email, what="e-mail address of an anomaly owner")
        if self.account is None and not self.monitor:
            raise ConfigurationError(
                f"anomaly owner {self.email!r} needs an account or a monitor", value=self.email
            )
        if self.account is not None and not (len(self.account) == 12 and self.account.isdigit()):
            raise ConfigurationError(
                f"anomaly owner {self.email!r}: account must be a 12-digit AWS account id",
                value=str(self.account),
            )
        object.__setattr__(self, "name", clean_display_text(self.name))

    def matches(self, anomaly: CostAnomaly) -> bool:
        if self.account is not None and self.account not in _accounts(anomaly):
            return False
        return not self.monitor or fnmatchcase(anomaly.monitor_name or "", self.monitor)


def _accounts(anomaly: CostAnomaly) -> set[str]:
    """The linked accounts blamed by the root causes; the alert's account when none is named."""
    linked = {cause.linked_account for cause in anomaly.root_causes if cause.linked_account}
    return linked or ({anomaly.account_id} if anomaly.account_id else set())


class AnomalyOwnerResolver:
    """Every matching owner, in the order given; else the fallback recipients, told why."""

    def __init__(self, owners: Sequence[AnomalyOwner], *, fallback: Sequence[Recipient] = ()) -> None:
        self.owners = tuple(owners)
        self.fallback = tuple(unique_recipients(fallback))

    def __call__(self, anomaly: CostAnomaly) -> list[Recipient]:
        matched = unique_recipients(Recipient(o.email, o.name) for o in self.owners if o.matches(anomaly))
        if matched:
            return matched
        accounts = ", ".join(sorted(_accounts(anomaly))) or "unknown"
        reason = (
            f'You receive this e-mail as a fallback recipient: no owner matched monitor "'
            f'{clean_display_text(anomaly.monitor_name) or "unknown"}" or linked account {accounts}.'
        )
        return [replace(recipient, reason=reason) for recipient in self.fallback]


def anomaly_context(
    anomaly: CostAnomaly, recipient: Recipient, *, sns_message_id: str = ""
) -> dict[str, Any]:
    """The variables the anomaly templates see; unknown facts are ``None``."""
    impact = money(anomaly.total_impact, "USD")
    where = clean_display_text(anomaly.dimensional_value)
    accounts = sorted(_accounts(anomaly))
    headline = "AWS cost anomaly" + (f" in {where}" if where else "")
    if impact:
        headline += f": {impact} above expected"
    if accounts:
        headline += f" (account {', '.join(accounts[:3])}{', …' if len(accounts) > 3 else ''})"
    causes = [
        ", ".join(
            filter(
                None,
                (
                    c.service,
                    c.region,
                    c.usage_type,
                    f"account {c.linked_account}" if c.linked_account else None,
                ),
            )
        )
        for c in anomaly.root_causes[:10]
    ]
    percent = anomaly.total_impact_percentage
    details = [
        ("Monitor", clean_display_text(anomaly.monitor_name)),
        ("Where", where),
        (
            "Impact",
            impact + (f" ({percent:f}% above expected)" if percent is not None else "") if impact else None,
        ),
        ("Expected spend", money(anomaly.total_expected_spend, "USD")),
        ("Actual spend", money(anomaly.total_actual_spend, "USD")),
        ("Linked accounts", ", ".join(accounts) or None),
        ("Started", anomaly.start_date.date().isoformat() if anomaly.start_date else None),
        ("Last seen", anomaly.end_date.date().isoformat() if anomaly.end_date else None),
    ]
    link = (
        anomaly.details_link
        if (anomaly.details_link or "").startswith("https://console.aws.amazon.com/")
        else None
    )
    return {
        "anomaly": anomaly,
        "name": recipient.name,
        "reason": recipient.reason,
        "headline": clean_display_text(headline) or "AWS cost anomaly",
        "details": [(label, clean_display_text(value)) for label, value in details if value],
        "causes": [clean_display_text(c) for c in causes if c],
        "console_url": link or _DETAILS_LINK,
        "sns_message_id": sns_message_id,
    }


class AnomalyEmailAction:
    """A handler that e-mails a :class:`~sns_subscriber.producers.CostAnomaly` to its owners;
    other events are ignored."""

    def __init__(
        self,
        backend: EmailBackend,
        resolver: AnomalyOwnerResolver,
        *,
        sender: Any,
        templates: Templates | None = None,
    ) -> None:
        self.backend = backend
        self.resolver = resolver
        self.__name__ = "anomaly_email"
        self.sender = sender  # an email.headerregistry.Address (BudgetEmailAction checks it)
        self.templates = templates if templates is not None else Templates()
        self._text: jinja2.Template = self.templates.get(TEXT_TEMPLATE)
        self._html: jinja2.Template = self.templates.get(HTML_TEMPLATE)
        domain = getattr(sender, "domain", "") or ""
        self._id_domain = domain if domain and domain.isascii() else "sns-subscriber.invalid"

    def __call__(self, delivery: Delivery) -> object:
        anomaly = delivery.event
        if not isinstance(anomaly, CostAnomaly):
            return None
        recipients = self.resolver(anomaly)
        if not recipients:
            logger.warning(
                "cost anomaly %s (monitor %r) in message %s reached nobody: no owner and no fallback recipient",
                anomaly.anomaly_id,
                clean_display_text(anomaly.monitor_name),
                delivery.message_id,
            )
            return SKIPPED
        for recipient in recipients:
            delivery.once(
                recipient.email.lower(), functools.partial(self._send, delivery, anomaly, recipient)
            )
        return None

    def _send(self, delivery: Delivery, anomaly: CostAnomaly, recipient: Recipient) -> None:
        self.backend.send(self.build_message(delivery, anomaly, recipient))

    def build_message(self, delivery: Delivery, anomaly: CostAnomaly, recipient: Recipient) -> EmailMessage:
        context = anomaly_context(anomaly, recipient, sns_message_id=delivery.message_id[:128])
        subject = context["headline"][:200]
        context["subject"] = subject
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient.address
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        seed = f"{delivery.message_id}\n{delivery.handler_name}\n{recipient.email.lower()}"
        message["Message-ID"] = (
            f"<cost-anomaly.{hashlib.sha256(seed.encode()).hexdigest()[:32]}@{self._id_domain}>"
        )
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(self._text.render(context), cte="quoted-printable")
        message.add_alternative(self._html.render(context), subtype="html", cte="quoted-printable")
        return message
