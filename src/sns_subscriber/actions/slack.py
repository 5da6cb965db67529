"""Slack incoming-webhook messages: a Block Kit layout per producer, every value escaped.

Budget alerts show the budget, amounts, threshold, period and a link to the budget in the AWS
console; CloudWatch alarms the alarm, its state change and the reason. Every value taken from
a message goes through :func:`escape` (Slack's ``&``, ``<``, ``>``): a budget name or alarm
state such as ``<!channel>`` or ``<https://evil|Click>`` is shown as text and can neither
notify a channel nor become a disguised link. ``text`` is the notification fallback.
"""

from __future__ import annotations

from typing import Any, Final

from ..delivery import Delivery
from ..producers import (
    BudgetAlert,
    BudgetTopicVerified,
    CloudWatchAlarm,
    CostAnomaly,
    EventBridgeEvent,
    SESEvent,
)
from .budget_facts import budget_facts

__all__ = ["escape", "slack_payload", "summary"]

_EMOJI: Final = {
    "ALARM": ":rotating_light:",
    "OK": ":white_check_mark:",
    "INSUFFICIENT_DATA": ":grey_question:",
}
# Slack limits: section text 3000 characters, a field 2000, ten fields per section.
_MAX_TEXT: Final = 2900
_MAX_FIELD: Final = 1900


def escape(text: object) -> str:
    """Slack's three control characters (its mrkdwn would turn <...> into links and mentions)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _budget(alert: BudgetAlert) -> str:
    facts = budget_facts(alert)
    period = f" ({alert.period})" if alert.period else ""
    account = f" in account {alert.account_id}" if alert.account_id else ""
    return f":money_with_wings: *{escape(facts.headline)}*{escape(period)}{escape(account)}"


def _alarm(alarm: CloudWatchAlarm, *, resolved: bool = False) -> str:
    emoji = _EMOJI.get(alarm.new_state or "", ":bell:")
    change = f"{alarm.old_state} → {alarm.new_state}" if alarm.old_state else str(alarm.new_state)
    region = f" in {alarm.region}" if alarm.region else ""
    reason = f"\n{escape(alarm.reason)}" if alarm.reason else ""
    headline = "Resolved" if resolved else alarm.new_state
    return f"{emoji} *{escape(headline)}* `{escape(alarm.name)}` ({escape(change)}){escape(region)}{reason}"


def _ses(event: SESEvent) -> str:
    if event.bounce is not None:
        who = ", ".join(r.email for r in event.bounce.recipients) or "?"
        kind = f"{event.bounce.bounce_type or ''} {event.bounce.bounce_subtype or ''}".strip()
        return f":envelope: SES bounce ({escape(kind)}) for {escape(who)}"
    if event.complaint is not None:
        return f":envelope: SES complaint from {escape(', '.join(event.complaint.recipients) or '?')}"
    recipients = ", ".join(event.mail.destination)
    return f":envelope: SES {escape(event.event_type)} for {escape(recipients or '?')}"


def summary(delivery: Delivery) -> str:
    """One line of Slack mrkdwn for any message (the notification text)."""
    event = delivery.event
    if isinstance(event, BudgetAlert):
        return _budget(event)
    if isinstance(event, BudgetTopicVerified):
        return ":white_check_mark: AWS Budgets verified this SNS topic"
    if isinstance(event, CloudWatchAlarm):
        return _alarm(event, resolved=delivery.resolution)
    if isinstance(event, SESEvent):
        return _ses(event)
    if isinstance(event, CostAnomaly):
        impact = f"${event.total_impact}" if event.total_impact is not None else "?"
        return f":chart_with_upwards_trend: Cost anomaly in {escape(event.dimensional_value or '?')}: impact {escape(impact)}"
    if isinstance(event, EventBridgeEvent):
        health = event.health
        if health is not None:
            return f":hospital: AWS Health {escape(health.event_type_code or event.detail_type)} ({escape(health.status or '?')})"
        return f":zap: {escape(event.detail_type)} from {escape(event.source)}"
    subject = getattr(delivery.message, "subject", None)
    text = delivery.message.message
    head = f"*{escape(subject)}*\n" if subject else ""
    return head + escape(text[:500] + ("…" if len(text) > 500 else ""))


def _field(label: str, value: object) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{label}*\n{escape(value)}", _MAX_FIELD)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _MAX_TEXT)}}


def _budget_blocks(alert: BudgetAlert) -> list[dict[str, Any]]:
    facts = budget_facts(alert)
    fields = [
        _field(label, value)
        for label, value in (
            ("Budget", facts.budget_name),
            ("Alert type", facts.alert_type),
            ("Amount", facts.amount),
            ("Budgeted", facts.budgeted),
            ("Threshold", facts.threshold),
            ("Period", facts.progress.text if facts.progress else facts.period),
            ("AWS account", facts.account_id),
        )
        if value
    ]
    blocks: list[dict[str, Any]] = [_section(f":money_with_wings: *{escape(facts.headline)}*")]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    if facts.is_forecast:
        blocks.append(_section("This is a forecast: the spending has not happened yet."))
    if facts.console_url:
        # The URL is built by budget_console_url (percent-encoded name), so it holds no "|" or ">".
        blocks.append(_section(f"<{facts.console_url}|Open the budget in the AWS console>"))
    return blocks


def _alarm_blocks(alarm: CloudWatchAlarm) -> list[dict[str, Any]]:
    emoji = _EMOJI.get(alarm.new_state or "", ":bell:")
    change = f"{alarm.old_state} → {alarm.new_state}" if alarm.old_state else alarm.new_state
    fields = [
        _field(label, value)
        for label, value in (
            ("Alarm", alarm.name),
            ("State", change),
            ("Region", alarm.region or alarm.region_code),
            ("AWS account", alarm.account_id),
        )
        if value
    ]
    blocks: list[dict[str, Any]] = [
        _section(f"{emoji} *{escape(alarm.new_state or 'Alarm')}*: {escape(alarm.name)}"),
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if alarm.reason:
        blocks.append(_section(f"*Reason*\n{escape(alarm.reason)}"))
    return blocks


def slack_payload(delivery: Delivery) -> dict[str, Any]:
    """The incoming-webhook body: ``text`` (notifications, old clients) and ``blocks``."""
    text = _cut(summary(delivery), _MAX_TEXT)
    event = delivery.event
    if isinstance(event, BudgetAlert):
        blocks = _budget_blocks(event)
    elif isinstance(event, CloudWatchAlarm):
        blocks = _alarm_blocks(event)
    else:
        blocks = [_section(text)]
    return {"text": text, "blocks": blocks}
