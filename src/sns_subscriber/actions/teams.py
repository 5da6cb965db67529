"""Microsoft Teams messages: an Adaptive Card posted to a Teams Workflows webhook.

Office 365 connectors (MessageCard) are retired; a Workflows "post to a channel when a webhook
request is received" flow takes ``{"type": "message", "attachments": [<Adaptive Card>]}``.
Budget alerts show the budget, amounts, threshold, period and an "Open in the AWS console"
button; CloudWatch alarms the alarm, its state change and the reason.

Adaptive Card ``TextBlock`` and ``FactSet`` text is a markdown subset (bold, italic, lists,
links): every value from a message goes through :func:`escape_markdown`, so a budget name such
as ``[Click](https://evil)`` or ``**urgent**`` is shown as typed, never as a link or markup.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ..delivery import Delivery
from ..producers import BudgetAlert, CloudWatchAlarm
from .budget_facts import budget_facts
from .slack import summary

__all__ = ["adaptive_card", "escape_markdown", "teams_payload"]

CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION: Final = "1.4"
_MARKUP: Final = re.compile(r"([\\`*_~\[\]<>])")
# A line starting like a list item or heading would be formatted as one.
_LINE_START: Final = re.compile(r"^(\s*)([-+#]|\d+\.)(?=\s|$)", re.MULTILINE)
_MAX_TEXT: Final = 2000
_SLACK_EMOJI: Final = re.compile(r":[a-z_]{1,40}: ?")
_SLACK_ENTITIES: Final = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def escape_markdown(value: object) -> str:
    """Text shown literally by Adaptive Card markdown: markup characters backslash-escaped."""
    text = str(value)
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    text = _MARKUP.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}", text)


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _facts(pairs: list[tuple[str, object]]) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "facts": [{"title": label, "value": escape_markdown(value)} for label, value in pairs if value],
    }


def _budget_card(alert: BudgetAlert) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    facts = budget_facts(alert)
    body = [
        _text(escape_markdown(facts.headline), weight="Bolder", size="Medium",
              color="Warning" if facts.is_forecast else "Attention"),
        _facts([
            ("Budget", facts.budget_name),
            ("Alert type", facts.alert_type),
            ("Amount", facts.amount),
            ("Budgeted", facts.budgeted),
            ("Threshold", facts.threshold),
            ("Period", facts.progress.text if facts.progress else facts.period),
            ("AWS account", facts.account_id),
        ]),
    ]  # fmt: skip
    if facts.is_forecast:
        body.append(_text("This is a forecast: the spending has not happened yet.", isSubtle=True))
    actions = []
    if facts.console_url:
        actions.append(
            {
                "type": "Action.OpenUrl",
                "title": "Open the budget in the AWS console",
                "url": facts.console_url,
            }
        )
    return body, actions


def _alarm_card(alarm: CloudWatchAlarm) -> list[dict[str, Any]]:
    change = f"{alarm.old_state} → {alarm.new_state}" if alarm.old_state else alarm.new_state
    body = [
        _text(escape_markdown(f"{alarm.new_state or 'Alarm'}: {alarm.name}"), weight="Bolder", size="Medium",
              color="Good" if alarm.new_state == "OK" else "Attention"),
        _facts([
            ("Alarm", alarm.name),
            ("State", change),
            ("Region", alarm.region or alarm.region_code),
            ("AWS account", alarm.account_id),
        ]),
    ]  # fmt: skip
    if alarm.reason:
        body.append(_text(escape_markdown(alarm.reason)))
    return body


def _plain_summary(delivery: Delivery) -> str:
    # The Slack summary without its emoji and entities, as plain text to escape for markdown.
    text = _SLACK_EMOJI.sub("", summary(delivery)).replace("*", "").replace("`", "")
    for entity, char in _SLACK_ENTITIES:
        text = text.replace(entity, char)
    return text


def adaptive_card(delivery: Delivery) -> dict[str, Any]:
    """The Adaptive Card (schema 1.4) for one message."""
    event = delivery.event
    actions: list[dict[str, Any]] = []
    if isinstance(event, BudgetAlert):
        body, actions = _budget_card(event)
    elif isinstance(event, CloudWatchAlarm):
        body = _alarm_card(event)
    else:
        body = [_text(escape_markdown(_plain_summary(delivery)))]
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def teams_payload(delivery: Delivery) -> dict[str, Any]:
    """The body a Teams Workflows webhook takes: one message with the card attached."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": adaptive_card(delivery),
            }
        ],
    }
