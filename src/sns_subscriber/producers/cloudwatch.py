"""CloudWatch alarm state changes delivered through SNS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from ._common import decimal, integer, items, mapping, text, timestamp

__all__ = ["AlarmTrigger", "CloudWatchAlarm", "parse_cloudwatch_alarm"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmTrigger:
    metric_name: str | None
    namespace: str | None
    statistic: str | None
    period: int | None
    evaluation_periods: int | None
    comparison_operator: str | None
    threshold: Decimal | None
    dimensions: tuple[tuple[str, str], ...]
    #: Metric-math and anomaly-detection alarms describe their metrics here instead.
    metrics: tuple[Mapping[str, Any], ...] = ()
    threshold_metric_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudWatchAlarm:
    producer: ClassVar[str] = "cloudwatch"

    name: str
    description: str | None
    account_id: str | None
    region: str | None
    alarm_arn: str | None
    old_state: str | None
    new_state: str | None
    reason: str | None
    state_change_time: datetime | None
    trigger: AlarmTrigger
    raw: str


def _dimensions(trigger: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for entry in items(trigger, "Dimensions"):
        if isinstance(entry, dict):
            name, value = entry.get("name"), entry.get("value")
            if isinstance(name, str) and isinstance(value, str):
                out.append((name, value))
    return tuple(out)


def parse_cloudwatch_alarm(data: Mapping[str, Any], raw: str) -> CloudWatchAlarm | None:
    name = text(data, "AlarmName")
    if name is None or text(data, "NewStateValue") is None:
        return None
    trigger = mapping(data, "Trigger")
    return CloudWatchAlarm(
        name=name,
        description=text(data, "AlarmDescription"),
        account_id=text(data, "AWSAccountId"),
        region=text(data, "Region"),
        alarm_arn=text(data, "AlarmArn"),
        old_state=text(data, "OldStateValue"),
        new_state=text(data, "NewStateValue"),
        reason=text(data, "NewStateReason"),
        state_change_time=timestamp(data, "StateChangeTime"),
        trigger=AlarmTrigger(
            metric_name=text(trigger, "MetricName"),
            namespace=text(trigger, "Namespace"),
            statistic=text(trigger, "Statistic") or text(trigger, "ExtendedStatistic"),
            period=integer(trigger, "Period"),
            evaluation_periods=integer(trigger, "EvaluationPeriods"),
            comparison_operator=text(trigger, "ComparisonOperator"),
            threshold=decimal(trigger, "Threshold"),
            dimensions=_dimensions(trigger),
            metrics=tuple(m for m in items(trigger, "Metrics") if isinstance(m, dict)),
            threshold_metric_id=text(trigger, "ThresholdMetricId"),
        ),
        raw=raw,
    )
