"""A readable one-message summary per producer, for Slack-compatible incoming webhooks."""

from __future__ import annotations

from typing import Any

from ..delivery import Delivery
from ..producers import (
    BudgetAlert,
    BudgetTopicVerified,
    CloudWatchAlarm,
    CostAnomaly,
    EventBridgeEvent,
    SESEvent,
)

__all__ = ["slack_payload", "summary"]

_EMOJI = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:", "INSUFFICIENT_DATA": ":grey_question:"}


def escape(text: str) -> str:
    """Slack's three control characters (its mrkdwn would turn <...> into links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _budget(alert: BudgetAlert) -> str:
    what = f"{alert.alert_type or 'Budget'} cost {alert.amount_text or '?'}"
    threshold = alert.threshold_percent_text or alert.threshold_amount_text or "its threshold"
    budgeted = f" of {alert.budgeted_amount_text}" if alert.budgeted_amount_text else ""
    period = f" ({alert.period})" if alert.period else ""
    account = f" in account {alert.account_id}" if alert.account_id else ""
    return f":money_with_wings: *Budget {escape(alert.budget_name or '?')}*: {what} exceeded {threshold}{budgeted}{period}{account}"


def _alarm(alarm: CloudWatchAlarm, *, resolved: bool = False) -> str:
    emoji = _EMOJI.get(alarm.new_state or "", ":bell:")
    change = f"{alarm.old_state} → {alarm.new_state}" if alarm.old_state else str(alarm.new_state)
    region = f" in {escape(alarm.region)}" if alarm.region else ""
    reason = f"\n{escape(alarm.reason)}" if alarm.reason else ""
    headline = "Resolved" if resolved else alarm.new_state
    return f"{emoji} *{headline}* `{escape(alarm.name)}` ({change}){region}{reason}"


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
        return f":chart_with_upwards_trend: Cost anomaly in {escape(event.dimensional_value or '?')}: impact {impact}"
    if isinstance(event, EventBridgeEvent):
        health = event.health
        if health is not None:
            return f":hospital: AWS Health {escape(health.event_type_code or event.detail_type)} ({escape(health.status or '?')})"
        return f":zap: {escape(event.detail_type)} from {escape(event.source)}"
    subject = getattr(delivery.message, "subject", None)
    text = delivery.message.message
    head = f"*{escape(subject)}*\n" if subject else ""
    return head + escape(text[:500] + ("…" if len(text) > 500 else ""))


def slack_payload(delivery: Delivery) -> dict[str, Any]:
    return {"text": summary(delivery)}
