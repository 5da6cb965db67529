"""Actions: what a handler does with a message (e-mail the budget owner, forward it, ...).

Importing this package needs no optional dependency: Jinja2 (``sns-subscriber[email]``) is
imported when templates are first loaded and boto3 (``sns-subscriber[ses]``) when an SES
backend is created.
"""

from __future__ import annotations

from .budget_email import BudgetEmailAction, EmailSendError, budget_alert_context
from .email import (
    ConsoleBackend,
    EmailBackend,
    FileBackend,
    SESBackend,
    SMTPBackend,
    Templates,
)
from .owners import BudgetOwner, ConfigOwnerResolver, OwnerResolver, Recipient

__all__ = [
    "BudgetEmailAction",
    "BudgetOwner",
    "ConfigOwnerResolver",
    "ConsoleBackend",
    "EmailBackend",
    "EmailSendError",
    "FileBackend",
    "OwnerResolver",
    "Recipient",
    "SESBackend",
    "SMTPBackend",
    "Templates",
    "budget_alert_context",
]
