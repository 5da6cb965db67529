"""Producer payloads worded exactly like AWS's, for tests and the simulator.

The Budgets text follows the real alerts in the project's fixtures (monthly and daily
wording). The "SNS Topic Verified!" body is not attested anywhere public; only its Subject
is, so the body here is a stand-in.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["TOPIC_VERIFIED_SUBJECT", "budget_alert", "cloudwatch_alarm", "topic_verified"]

TOPIC_VERIFIED_SUBJECT = "SNS Topic Verified!"


def _money(amount: Decimal, currency: str) -> str:
    value = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{currency}{value:,.2f}" if currency == "$" else f"{value:,.2f} {currency}"


def budget_alert(
    *,
    budget_name: str = "team-a-prod",
    budgeted: Decimal | str = "100.00",
    threshold_percent: Decimal | str = "90",
    amount: Decimal | str = "95.12",
    alert_type: str = "ACTUAL",
    period: str = "monthly",
    account_id: str = "123456789012",
    currency: str = "$",
    when: date | None = None,
) -> tuple[str, str]:
    """(subject, message) of an AWS Budgets threshold alert."""
    budgeted_d, percent, amount_d = Decimal(budgeted), Decimal(threshold_percent), Decimal(amount)
    threshold = budgeted_d * percent / 100
    day = when or datetime.now(UTC).date()
    if period == "daily":
        span, lead = " per day", "Yesterday, the"
    else:
        span, lead = (
            f" for the current {'month' if period == 'monthly' else period.removesuffix('ly')}",
            "The",
        )
    text = (
        f"AWS Budget Notification {day:%B %d, %Y}\n"
        f"AWS Account {account_id}\n\n"
        "Dear AWS Customer,\n\n"
        f"You requested that we alert you when the {alert_type} Cost associated with your {budget_name} budget "
        f"is greater than {_money(threshold, currency)}{span}. {lead} {alert_type} Cost associated with this "
        f"budget is {_money(amount_d, currency)}. You can find additional details below and by accessing the "
        "AWS Budgets dashboard [1].\n\n"
        f"Budget Name: {budget_name}\n"
        "Budget Type: Cost\n"
        f"Budgeted Amount: {_money(budgeted_d, currency)}\n"
        f"Alert Type: {alert_type}\n"
        f"Alert Threshold: > {_money(threshold, currency)}\n"
        f"{alert_type} Amount: {_money(amount_d, currency)}\n\n"
        "[1] https://console.aws.amazon.com/billing/home#/budgets\n"
    )
    return f"AWS Budgets: {budget_name} has exceeded your alert threshold", text


def topic_verified() -> tuple[str, str]:
    """(subject, message) of the test notification AWS Budgets sends to a newly attached topic."""
    return TOPIC_VERIFIED_SUBJECT, "SNS Topic Verified!"


def cloudwatch_alarm(
    *,
    name: str = "high-cpu",
    new_state: str = "ALARM",
    old_state: str = "OK",
    region: str = "US East (N. Virginia)",
    account_id: str = "123456789012",
    metric: str = "CPUUtilization",
    namespace: str = "AWS/EC2",
    threshold: float = 80.0,
) -> tuple[str, str]:
    """(subject, message) of a CloudWatch alarm state change."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    payload = {
        "AlarmName": name,
        "AlarmDescription": f"{metric} above {threshold}",
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": now,
        "NewStateValue": new_state,
        "NewStateReason": f"Threshold Crossed: 1 datapoint [95.0] was greater than the threshold ({threshold}).",
        "StateChangeTime": now,
        "Region": region,
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{account_id}:alarm:{name}",
        "OldStateValue": old_state,
        "OKActions": [],
        "AlarmActions": [f"arn:aws:sns:us-east-1:{account_id}:alerts"],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": metric,
            "Namespace": namespace,
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"value": "i-0123456789abcdef0", "name": "InstanceId"}],
            "Period": 300,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": threshold,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    subject = f'{new_state}: "{name}" in {region}'
    return subject, json.dumps(payload)
