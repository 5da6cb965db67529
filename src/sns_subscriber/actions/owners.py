"""Who receives a budget alert: recipients, configured owners, and the resolver contract.

An API whose customers each own a budget usually knows the owner from its own users table;
it passes its own resolver (any ``Callable[[BudgetAlert], Sequence[Recipient]]``). Simpler
deployments list owners in the configuration (:class:`ConfigOwnerResolver`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from fnmatch import fnmatchcase
from typing import TypeAlias

from ..exceptions import ConfigurationError
from ..producers.budgets import BudgetAlert

__all__ = [
    "BudgetOwner",
    "ConfigOwnerResolver",
    "OwnerResolver",
    "Recipient",
    "clean_display_text",
    "fallback_reason",
    "unique_recipients",
    "validate_email_address",
]

_MAX_ADDRESS = 254  # RFC 5321 path limit minus the angle brackets
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_ACCOUNT_ID = re.compile(r"\d{12}")


def validate_email_address(address: object, *, what: str = "e-mail address") -> str:
    """Return ``address`` if it can safely be used as one mailbox; else ``ConfigurationError``.

    Deliberately minimal (deliverability is the mail server's business): one ``@`` with text
    on both sides, no whitespace or control characters, at most 254 characters, and
    acceptable to :class:`email.headerregistry.Address`, so it can never break a header.
    """
    if not isinstance(address, str):
        raise ConfigurationError(f"{what} must be a string, not {type(address).__name__}")
    local, at, domain = address.partition("@")
    problem = None
    if len(address) > _MAX_ADDRESS:
        problem = f"longer than {_MAX_ADDRESS} characters"
    elif not at or "@" in domain or not local or not domain:
        problem = "it needs exactly one @ with text on both sides"
    elif any(ch.isspace() for ch in address) or _CONTROL.search(address):
        problem = "it contains whitespace or control characters"
    else:
        try:
            Address(addr_spec=address)
        except (ValueError, IndexError, MessageError) as exc:
            problem = f"not a valid address ({exc})"
    if problem is not None:
        raise ConfigurationError(f"invalid {what} {address!r}: {problem}", value=address)
    return address


def _check_digest(digest: object, email: str) -> None:
    if digest is not None and digest not in ("daily", "weekly"):
        raise ConfigurationError(f"{email}: digest must be daily or weekly", value=str(digest))


def clean_display_text(value: str | None) -> str | None:
    """Collapse line breaks, control characters and runs of spaces; ``None`` if nothing is left.

    Names and budget names end up in headers and subjects; without line breaks they cannot
    start a new header, whatever the source.
    """
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text or None


@dataclass(frozen=True, slots=True)
class Recipient:
    """One person to e-mail. ``name`` is used in the greeting and the ``To`` header.

    Construction checks the address (``ConfigurationError``, a ``ValueError``, if it is
    unusable) and strips line breaks from the name.
    """

    email: str
    name: str | None = None
    #: Why this person gets the e-mail when they are not the budget's owner (a fallback
    #: recipient), shown in the e-mail; ``None`` for owners.
    reason: str | None = None
    #: ``"daily"`` or ``"weekly"``: collect this person's alerts into one digest e-mail.
    digest: str | None = None

    def __post_init__(self) -> None:
        validate_email_address(self.email)
        object.__setattr__(self, "name", clean_display_text(self.name))
        object.__setattr__(self, "reason", clean_display_text(self.reason))
        _check_digest(self.digest, self.email)

    @property
    def address(self) -> Address:
        """The ``To`` header value; the email package quotes or encodes the name."""
        return Address(display_name=self.name or "", addr_spec=self.email)


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetOwner:
    """A configured owner: alerts for budgets matching ``budget`` go to ``email``.

    ``budget`` is a case-sensitive glob on the budget name (``team-a-*``, ``*``). With
    ``account`` (12 digits) set, only alerts from that AWS account match, so two accounts
    can each have a budget of the same name.
    """

    budget: str
    email: str
    name: str | None = None
    account: str | None = None
    #: ``"daily"`` or ``"weekly"``: this owner's alerts arrive as one digest e-mail.
    digest: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.budget, str) or not self.budget:
            raise ConfigurationError(f"budget owner {self.email!r}: budget must be a non-empty glob")
        validate_email_address(self.email, what=f"e-mail address of the owner of {self.budget!r}")
        if self.account is not None and (
            not isinstance(self.account, str) or not _ACCOUNT_ID.fullmatch(self.account)
        ):
            raise ConfigurationError(
                f"budget owner {self.email!r}: account must be a 12-digit AWS account id",
                value=str(self.account),
            )
        object.__setattr__(self, "name", clean_display_text(self.name))
        _check_digest(self.digest, self.email)

    def matches(self, alert: BudgetAlert) -> bool:
        if self.account is not None and self.account != alert.account_id:
            return False
        # An alert whose name could not be read only matches patterns that match anything.
        return fnmatchcase(alert.budget_name or "", self.budget)

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.email, self.name, digest=self.digest)


#: Resolves the recipients of one alert. It is called synchronously in a worker thread, so
#: it may block (e.g. query the application's database); an ``async def`` resolver is not
#: supported: wrap it. An exception from it propagates and the message is retried later.
#: An empty result means "nobody": the alert is logged and the message completes.
OwnerResolver: TypeAlias = Callable[[BudgetAlert], Sequence[Recipient]]


def unique_recipients(recipients: Iterable[Recipient]) -> list[Recipient]:
    """Drop repeated addresses (compared case-insensitively), keeping the first of each."""
    seen: set[str] = set()
    unique: list[Recipient] = []
    for recipient in recipients:
        key = recipient.email.lower()
        if key not in seen:
            seen.add(key)
            unique.append(recipient)
    return unique


class ConfigOwnerResolver:
    """Recipients from a list of :class:`BudgetOwner`: every owner whose pattern (and account)
    matches, in the order given, each address once.

    ``fallback`` receives the alerts no owner matches, e.g. a finance or operations mailbox.
    Without a fallback such an alert e-mails nobody: the action logs a warning and the
    message completes (retrying would not find an owner either).
    """

    def __init__(self, owners: Sequence[BudgetOwner], *, fallback: Sequence[Recipient] = ()) -> None:
        for owner in owners:
            if not isinstance(owner, BudgetOwner):
                raise ConfigurationError(f"owners must be BudgetOwner values, not {type(owner).__name__}")
        for recipient in fallback:
            if not isinstance(recipient, Recipient):
                raise ConfigurationError(f"fallback must be Recipient values, not {type(recipient).__name__}")
        self.owners = tuple(owners)
        self.fallback = tuple(unique_recipients(fallback))

    def __repr__(self) -> str:
        return f"ConfigOwnerResolver({len(self.owners)} owners, {len(self.fallback)} fallback)"

    def __call__(self, alert: BudgetAlert, *, why: str | None = None) -> list[Recipient]:
        """The matching owners, else the fallback recipients told why (``why`` adds a cause)."""
        matched = unique_recipients(owner.recipient for owner in self.owners if owner.matches(alert))
        if matched:
            return matched
        reason = fallback_reason(alert, why)
        return [dataclasses.replace(recipient, reason=reason) for recipient in self.fallback]


def fallback_reason(alert: BudgetAlert, why: str | None = None) -> str:
    """What a fallback recipient is told about why they got the e-mail."""
    budget = f'budget "{clean_display_text(alert.budget_name)}"' if alert.budget_name else "this budget"
    account = f" in AWS account {alert.account_id}" if alert.account_id else ""
    cause = f" ({why})" if why else ""
    return (
        f"You receive this e-mail as a fallback recipient: no owner matched {budget}{account}{cause}. "
        "Name an owner for it to have its alerts reach the right people."
    )
