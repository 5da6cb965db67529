"""CloudWatch alarm state changes delivered through SNS (JSON)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

from ._common import boolean, decimal, integer, items, mapping, text, time

__all__ = ["AlarmMetric", "AlarmTrigger", "CloudWatchAlarm", "parse_cloudwatch_alarm"]

_ALARM_ARN: Final = re.compile(r"^arn:[a-z-]+:cloudwatch:(?P<region>[a-z0-9-]+):\d*:alarm:")

Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmMetric:
    """One entry of ``Trigger.Metrics``: a metric (``MetricStat``) or an expression such as
    ``ANOMALY_DETECTION_BAND(m1, 2)``."""

    id: str | None
    expression: str | None
    label: str | None
    return_data: bool | None
    metric_name: str | None
    namespace: str | None
    dimensions: Dimensions
    period: int | None
    stat: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmTrigger:
    """What the alarm watches. Metric-math and anomaly-detection alarms leave the single-metric
    fields ``None`` and list their parts in ``metrics``."""

    metric_name: str | None
    namespace: str | None
    statistic: str | None
    period: int | None
    evaluation_periods: int | None
    datapoints_to_alarm: int | None
    comparison_operator: str | None
    threshold: Decimal | None
    dimensions: Dimensions
    unit: str | None
    treat_missing_data: str | None
    metrics: tuple[AlarmMetric, ...] = ()
    #: For anomaly-detection alarms: the id of the band in ``metrics``.
    threshold_metric_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudWatchAlarm:
    """One alarm state change. ``region`` is the display name AWS sends ("US East (N.
    Virginia)"); ``region_code`` comes from the alarm ARN ("us-east-1")."""

    producer: ClassVar[str] = "cloudwatch"

    name: str
    description: str | None
    account_id: str | None
    region: str | None
    region_code: str | None
    alarm_arn: str | None
    old_state: str | None
    new_state: str | None
    reason: str | None
    state_change_time: datetime | None
    trigger: AlarmTrigger
    raw: str

    @property
    def resolves_alarm(self) -> bool:
        """True for a change back to OK from ALARM: the problem is over."""
        return self.new_state == "OK" and self.old_state == "ALARM"

    @property
    def alarm_key(self) -> str:
        """What identifies the alarm across its state changes: its ARN, else account, region, name."""
        if self.alarm_arn:
            return self.alarm_arn
        return f"{self.account_id or '?'}:{self.region_code or self.region or '?'}:{self.name}"


def _dimensions(entries: tuple[Any, ...]) -> Dimensions:
    out: list[tuple[str, str]] = []
    for entry in entries:
        if isinstance(entry, Mapping):
            name, value = entry.get("name"), entry.get("value")
            if isinstance(name, str) and isinstance(value, str):
                out.append((name, value))
    return tuple(out)


def _metric(data: Mapping[str, Any]) -> AlarmMetric:
    stat = mapping(data, "MetricStat")
    metric = mapping(stat, "Metric")
    return AlarmMetric(
        id=text(data, "Id"),
        expression=text(data, "Expression"),
        label=text(data, "Label"),
        return_data=boolean(data, "ReturnData"),
        metric_name=text(metric, "MetricName"),
        namespace=text(metric, "Namespace"),
        dimensions=_dimensions(items(metric, "Dimensions")),
        period=integer(stat, "Period"),
        stat=text(stat, "Stat"),
    )


def _trigger(data: Mapping[str, Any]) -> AlarmTrigger:
    return AlarmTrigger(
        metric_name=text(data, "MetricName"),
        namespace=text(data, "Namespace"),
        statistic=text(data, "Statistic") or text(data, "ExtendedStatistic"),
        period=integer(data, "Period"),
        evaluation_periods=integer(data, "EvaluationPeriods"),
        datapoints_to_alarm=integer(data, "DatapointsToAlarm"),
        comparison_operator=text(data, "ComparisonOperator"),
        threshold=decimal(data, "Threshold"),
        dimensions=_dimensions(items(data, "Dimensions")),
        unit=text(data, "Unit"),
        treat_missing_data=text(data, "TreatMissingData"),
        metrics=tuple(_metric(m) for m in items(data, "Metrics") if isinstance(m, Mapping)),
        threshold_metric_id=text(data, "ThresholdMetricId"),
    )


def parse_cloudwatch_alarm(data: Mapping[str, Any], raw: str) -> CloudWatchAlarm | None:
    """The alarm in ``data``; ``None`` unless it has ``AlarmName`` and ``NewStateValue``."""
    name, new_state = text(data, "AlarmName"), text(data, "NewStateValue")
    if name is None or new_state is None:
        return None
    arn = text(data, "AlarmArn")
    arn_match = _ALARM_ARN.match(arn) if arn else None
    return CloudWatchAlarm(
        name=name,
        description=text(data, "AlarmDescription"),
        account_id=text(data, "AWSAccountId"),
        region=text(data, "Region"),
        region_code=arn_match["region"] if arn_match else None,
        alarm_arn=arn,
        old_state=text(data, "OldStateValue"),
        new_state=new_state,
        reason=text(data, "NewStateReason"),
        state_change_time=time(data, "StateChangeTime"),
        trigger=_trigger(mapping(data, "Trigger")),
        raw=raw,
    )
