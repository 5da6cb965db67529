"""Post a budget alert to the Slack channels its budget's tag names.

With ``[budgets] slack_tag = "slack"``, a budget tagged ``slack = team-a-alerts`` has its
alerts posted to the ``[[webhooks]]`` entry named ``team-a-alerts`` (an incoming webhook is
bound to one channel), as a Teams Adaptive Card when that entry's format is ``teams`` and as
a Slack message otherwise. Only configured webhooks can be named: a tag cannot make the service
post to a URL of its choosing. Each destination is posted to once per message.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from typing import Final

from ..delivery import SKIPPED, Delivery
from ..producers.budgets import BudgetAlert
from .budget_tags import BudgetTagOwners
from .owners import clean_display_text
from .slack import slack_payload
from .teams import teams_payload
from .webhook import WebhookAction

__all__ = ["BudgetSlackAction"]

logger = logging.getLogger("sns_subscriber.actions.budget_slack")

_SEPARATORS: Final = re.compile(r"[,;\s]+")
_MAX_DESTINATIONS: Final = 10


class BudgetSlackAction:
    """A handler posting budget alerts to the webhooks named by the budget's ``tag``."""

    def __init__(self, tags: BudgetTagOwners, tag: str, destinations: Mapping[str, WebhookAction]) -> None:
        self.tags = tags
        self.tag = tag
        self.destinations = dict(destinations)
        self.__name__ = "budget_slack"

    def __call__(self, delivery: Delivery) -> object:
        alert = delivery.event
        if not isinstance(alert, BudgetAlert):
            return None
        budget = clean_display_text(alert.budget_name)
        try:
            value = self.tags.tag_value(alert, self.tag)
        except Exception as exc:  # the e-mail path has its own fallbacks; say why here
            logger.warning(
                "cannot read the %s tag of budget %r: %s: %s", self.tag, budget, type(exc).__name__, exc
            )
            return SKIPPED
        names = [n for n in _SEPARATORS.split((value or "")[:256]) if n][:_MAX_DESTINATIONS]
        posted = 0
        for name in names:
            destination = self.destinations.get(name)
            if destination is None:
                logger.warning(
                    "budget %r: its %s tag names %r, which is no [[webhooks]] entry",
                    budget,
                    self.tag,
                    name[:100],
                )
                continue
            payload = teams_payload(delivery) if destination.format == "teams" else slack_payload(delivery)
            body = json.dumps(payload, separators=(",", ":")).encode()
            delivery.once(f"post:{name}", functools.partial(destination.post, body, delivery.message_id))
            posted += 1
        return None if posted else SKIPPED
