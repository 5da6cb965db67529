"""Owners from the budget's own tags: ``ListTagsForResource`` on the AWS Budgets budget.

With ``[budgets] owner_tag = "owner"``, a budget tagged ``owner = alice@example.com
bob@example.com`` e-mails Alice and Bob; ``cc_tag`` adds people in copy. Tags are read once
per budget and cached for ``ttl`` seconds in a bounded cache. When the tags say nobody, or AWS
cannot be asked (no permission, throttled, unreachable), the configured owners
(``[[budget_owners]]``) decide, then the ``[email] fallback`` recipients, who are told why they
got the alert: an alert never falls silent because of AWS.

boto3 is imported only when a client is first needed (``sns-subscriber[ses]`` extra).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..exceptions import ConfigurationError
from ..producers.budgets import BudgetAlert
from .owners import (
    ConfigOwnerResolver,
    Recipient,
    clean_display_text,
    unique_recipients,
    validate_email_address,
)

__all__ = ["BudgetTagOwners", "budget_arn", "budgets_client_factory", "parse_addresses"]

logger = logging.getLogger("sns_subscriber.actions.budget_tags")

_ACCOUNT: Final = re.compile(r"\d{12}")
_SEPARATORS: Final = re.compile(r"[,;\s]+")
# AWS tag values are at most 256 characters: anything longer is not a tag value.
_MAX_TAG_VALUE: Final = 256
_MAX_ADDRESSES: Final = 20

#: Returns a boto3 ``budgets`` client; called once, when the first alert needs tags.
ClientFactory = Callable[[], Any]


def budgets_client_factory(*, region: str = "us-east-1", endpoint_url: str | None = None) -> ClientFactory:
    """A factory for the AWS Budgets client (a global service, served from us-east-1).

    ``endpoint_url`` routes it elsewhere (LocalStack); credentials come from the usual boto3
    chain. Whoever builds shared AWS clients can pass their own factory instead.
    """

    def build() -> Any:
        try:
            import boto3  # noqa: PLC0415 - optional extra, imported on first use
        except ImportError as exc:  # pragma: no cover - the service extra brings boto3 with [ses]
            raise ConfigurationError(
                "budgets.owner_tag needs boto3: pip install 'sns-subscriber[ses]'", value="boto3"
            ) from exc
        return boto3.client("budgets", region_name=region, endpoint_url=endpoint_url)

    return build


def budget_arn(account_id: str | None, budget_name: str | None) -> str | None:
    """``arn:aws:budgets::ACCOUNT:budget/NAME``; ``None`` when the alert cannot name it."""
    if not account_id or not _ACCOUNT.fullmatch(account_id) or not budget_name:
        return None
    if len(budget_name) > 100 or ":" in budget_name or "\\" in budget_name:
        return None  # not a name AWS could have issued: do not ask about it
    return f"arn:aws:budgets::{account_id}:budget/{budget_name}"


def parse_addresses(value: str | None, *, where: str) -> list[Recipient]:
    """The e-mail addresses in a tag value (separated by commas, semicolons or spaces);
    unusable ones are logged and skipped."""
    if not value:
        return []
    if len(value) > _MAX_TAG_VALUE:
        logger.warning("%s: tag value longer than %d characters ignored", where, _MAX_TAG_VALUE)
        return []
    found: list[Recipient] = []
    for part in _SEPARATORS.split(value.strip())[:_MAX_ADDRESSES]:
        if not part:
            continue
        try:
            found.append(Recipient(validate_email_address(part)))
        except ConfigurationError as exc:
            logger.warning("%s: %s", where, exc)
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    tags: Mapping[str, str]
    expires: float


class BudgetTagOwners:
    """An owner resolver reading the budget's tags, falling back to ``fallback``.

    ``fallback`` is the configured resolver (owners, then fallback recipients); it is asked
    when the tags name nobody, with the reason passed on to fallback recipients.
    ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        client_factory: ClientFactory,
        fallback: ConfigOwnerResolver,
        *,
        owner_tag: str,
        cc_tag: str | None = None,
        ttl: float = 3600.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not owner_tag:
            raise ConfigurationError("budgets.owner_tag must name a tag", value="budgets.owner_tag")
        if max_entries < 1 or ttl < 0:
            raise ConfigurationError("the budget tag cache needs max_entries >= 1 and ttl >= 0")
        self.client_factory = client_factory
        self.fallback = fallback
        self.owner_tag = owner_tag
        self.cc_tag = cc_tag
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._client: Any = None
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BudgetTagOwners(owner_tag={self.owner_tag!r}, cc_tag={self.cc_tag!r}, {self.fallback!r})"

    def sharing(self, fallback: ConfigOwnerResolver) -> BudgetTagOwners:
        """A resolver with another ``fallback`` that shares this one's client and cache."""
        other = copy.copy(self)
        other.fallback = fallback
        return other

    def __call__(self, alert: BudgetAlert) -> list[Recipient]:
        arn = budget_arn(alert.account_id, alert.budget_name)
        if arn is None:
            return self.fallback(alert, why="the alert does not name its account and budget")
        try:
            tags = self.tags(arn)
        except Exception as exc:  # AWS's answer must never silence an alert: fall back, loudly
            logger.warning(
                "cannot read the tags of budget %r (%s): %s: %s; using the configured owners",
                clean_display_text(alert.budget_name),
                arn,
                type(exc).__name__,
                exc,
            )
            return self.fallback(alert, why=f"its tags could not be read: {type(exc).__name__}")
        where = f"budget {clean_display_text(alert.budget_name)!r} tag"
        owners = parse_addresses(tags.get(self.owner_tag), where=f"{where} {self.owner_tag}")
        if not owners:
            return self.fallback(alert, why=f"it has no usable {self.owner_tag} tag")
        name = clean_display_text(alert.budget_name)
        cc = [
            dataclasses.replace(
                r, reason=f'You are in copy of the alerts of budget "{name}" (its {self.cc_tag} tag).'
            )
            for r in parse_addresses(
                tags.get(self.cc_tag) if self.cc_tag else None, where=f"{where} {self.cc_tag}"
            )
        ]
        return unique_recipients([*owners, *cc])

    def tag_value(self, alert: BudgetAlert, tag: str) -> str | None:
        """The value of ``tag`` on the alert's budget (``None`` if unset or the alert cannot
        name its budget); AWS errors propagate."""
        arn = budget_arn(alert.account_id, alert.budget_name)
        return None if arn is None else self.tags(arn).get(tag)

    def tags(self, arn: str) -> Mapping[str, str]:
        """The budget's tags, from the cache while fresh."""
        now = self.clock()
        with self._lock:
            entry = self._cache.get(arn)
            if entry is not None and entry.expires > now:
                self._cache.move_to_end(arn)
                return entry.tags
        tags = self._fetch(arn)
        with self._lock:
            self._cache[arn] = _Entry(tags, now + self.ttl)
            self._cache.move_to_end(arn)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return tags

    def _fetch(self, arn: str) -> Mapping[str, str]:
        if self._client is None:
            self._client = self.client_factory()
        response = self._client.list_tags_for_resource(ResourceARN=arn)
        tags: dict[str, str] = {}
        for tag in response.get("ResourceTags") or ():
            key, value = tag.get("Key"), tag.get("Value")
            if isinstance(key, str) and isinstance(value, str):
                tags[key] = value
        return tags
