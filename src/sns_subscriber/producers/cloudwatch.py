"""CloudWatch alarm state changes delivered through SNS (JSON)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

from ._common import get_bool, get_decimal, get_int, get_items, get_mapping, get_text, get_time

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
    stat = get_mapping(data, "MetricStat")
    metric = get_mapping(stat, "Metric")
    return AlarmMetric(
        id=get_text(data, "Id"),
        expression=get_text(data, "Expression"),
        label=get_text(data, "Label"),
        return_data=get_bool(data, "ReturnData"),
        metric_name=get_text(metric, "MetricName"),
        namespace=get_text(metric, "Namespace"),
        dimensions=_dimensions(get_items(metric, "Dimensions")),
        period=get_int(stat, "Period"),
        stat=get_text(stat, "Stat"),
    )


def _trigger(data: Mapping[str, Any]) -> AlarmTrigger:
    return AlarmTrigger(
        metric_name=get_text(data, "MetricName"),
        namespace=get_text(data, "Namespace"),
        statistic=get_text(data, "Statistic") or get_text(data, "ExtendedStatistic"),
        period=get_int(data, "Period"),
        evaluation_periods=get_int(data, "EvaluationPeriods"),
        datapoints_to_alarm=get_int(data, "DatapointsToAlarm"),
        comparison_operator=get_text(data, "ComparisonOperator"),
        threshold=get_decimal(data, "Threshold"),
        dimensions=_dimensions(get_items(data, "Dimensions")),
        unit=get_text(data, "Unit"),
        treat_missing_data=get_text(data, "TreatMissingData"),
        metrics=tuple(_metric(m) for m in get_items(data, "Metrics") if isinstance(m, Mapping)),
        threshold_metric_id=get_text(data, "ThresholdMetricId"),
    )


def parse_cloudwatch_alarm(data: Mapping[str, Any], raw: str) -> CloudWatchAlarm | None:
    """The alarm in ``data``; ``None`` unless it has ``AlarmName`` and ``NewStateValue``."""
    name, new_state = get_text(data, "AlarmName"), get_text(data, "NewStateValue")
    if name is None or new_state is None:
        return None
    arn = get_text(data, "AlarmArn")
    arn_match = _ALARM_ARN.match(arn) if arn else None
    return CloudWatchAlarm(
        name=name,
        description=get_text(data, "AlarmDescription"),
        account_id=get_text(data, "AWSAccountId"),
        region=get_text(data, "Region"),
        region_code=arn_match["region"] if arn_match else None,
        alarm_arn=arn,
        old_state=get_text(data, "OldStateValue"),
        new_state=new_state,
        reason=get_text(data, "NewStateReason"),
        state_change_time=get_time(data, "StateChangeTime"),
        trigger=_trigger(get_mapping(data, "Trigger")),
        raw=raw,
    )
