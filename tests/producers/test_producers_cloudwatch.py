"""CloudWatch alarms: the real samples with their exact values, metric-math triggers, bad types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sns_subscriber.producers.cloudwatch import (
    AlarmMetric,
    AlarmTrigger,
    CloudWatchAlarm,
    parse_cloudwatch_alarm,
)

from .producer_fixtures import PRODUCERS, SIGNED, message

# Older alarms really send this odd value (20 spaces), not just "missing".
OLD_TREAT_MISSING = "- TreatMissingData:" + " " * 20 + "missing"


def alarm_2022_09_25(raw: str) -> CloudWatchAlarm:
    return CloudWatchAlarm(
        name="Test alarm",
        description=None,
        account_id="017790921725",
        region="Canada (Central)",
        region_code="ca-central-1",
        alarm_arn="arn:aws:cloudwatch:ca-central-1:017790921725:alarm:Test alarm",
        old_state="INSUFFICIENT_DATA",
        new_state="ALARM",
        reason=(
            "Threshold Crossed: 1 out of the last 1 datapoints [6.0 (25/09/22 18:49:00)] was greater than the "
            "threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition)."
        ),
        state_change_time=datetime(2022, 9, 25, 18, 50, 37, 811000, tzinfo=UTC),
        trigger=AlarmTrigger(
            metric_name="ConcurrentExecutions",
            namespace="AWS/Lambda",
            statistic="SUM",
            period=60,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator="GreaterThanThreshold",
            threshold=Decimal("5.0"),
            dimensions=(),
            unit=None,
            treat_missing_data="missing",
        ),
        raw=raw,
    )


def alarm_2019_08_09(raw: str) -> CloudWatchAlarm:
    return CloudWatchAlarm(
        name="insufficient test",
        description=None,
        account_id="853553028582",
        region="US East (N. Virginia)",
        region_code=None,
        alarm_arn=None,
        old_state="OK",
        new_state="INSUFFICIENT_DATA",
        reason="tets",
        state_change_time=datetime(2019, 8, 9, 10, 19, 19, 614000, tzinfo=UTC),
        trigger=AlarmTrigger(
            metric_name="CallCount2",
            namespace="AWS/Usage",
            statistic="AVERAGE",
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=None,
            comparison_operator="GreaterThanThreshold",
            threshold=Decimal("1.0"),
            dimensions=(
                ("Type", "API"),
                ("Resource", "PutMetricData"),
                ("Service", "CloudWatch"),
                ("Class", "None"),
            ),
            unit=None,
            treat_missing_data=OLD_TREAT_MISSING,
        ),
        raw=raw,
    )


def alarm_2021_06_27(raw: str) -> CloudWatchAlarm:
    return CloudWatchAlarm(
        name="ContainerInsight-pod_cpu_utilization",
        description=None,
        account_id="257706363616",
        region="Asia Pacific (Seoul)",
        region_code="ap-northeast-2",
        alarm_arn="arn:aws:cloudwatch:ap-northeast-2:257706363616:alarm:ContainerInsight-pod_cpu_utilization",
        old_state="ALARM",
        new_state="OK",
        reason=(
            "Thresholds Crossed: 1 out of the last 1 datapoints [0.46522264287069004 (27/06/21 13:52:00)] was not "
            "less than the lower thresholds [0.4129373661576242] or not greater than the upper thresholds "
            "[0.4700330400585261] (minimum 1 datapoint for ALARM -> OK transition)."
        ),
        state_change_time=datetime(2021, 6, 27, 13, 53, 39, 351000, tzinfo=UTC),
        trigger=AlarmTrigger(
            metric_name=None,
            namespace=None,
            statistic=None,
            period=60,
            evaluation_periods=1,
            datapoints_to_alarm=None,
            comparison_operator="LessThanLowerOrGreaterThanUpperThreshold",
            threshold=None,
            dimensions=(),
            unit=None,
            treat_missing_data=OLD_TREAT_MISSING,
            metrics=(
                AlarmMetric(
                    id="m1",
                    expression=None,
                    label=None,
                    return_data=True,
                    metric_name="pod_cpu_utilization",
                    namespace="ContainerInsights",
                    dimensions=(("ClusterName", "cloudone-dev-v1-eks-cluster"),),
                    period=60,
                    stat="Average",
                ),
                AlarmMetric(
                    id="ad1",
                    expression="ANOMALY_DETECTION_BAND(m1, 0.592)",
                    label="pod_cpu_utilization (expected)",
                    return_data=True,
                    metric_name=None,
                    namespace=None,
                    dimensions=(),
                    period=None,
                    stat=None,
                ),
            ),
            threshold_metric_id="ad1",
        ),
        raw=raw,
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (PRODUCERS / "cloudwatch-alarm-ALARM-2022-09-25.json", alarm_2022_09_25),
        (SIGNED / "cloudwatch-alarm-ALARM-2022-09-25-ca-central-1.json", alarm_2022_09_25),
        (PRODUCERS / "cloudwatch-alarm-INSUFFICIENT_DATA-2019-08-09.json", alarm_2019_08_09),
        (SIGNED / "cloudwatch-alarm-INSUFFICIENT_DATA-2019-08-09-us-east-1.json", alarm_2019_08_09),
        (PRODUCERS / "cloudwatch-alarm-OK-anomaly-band-2021-06-27.json", alarm_2021_06_27),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_real_alarm(path: Path, expected: object) -> None:
    raw = message(path)
    assert callable(expected)
    assert parse_cloudwatch_alarm(json.loads(raw), raw) == expected(raw)


def test_metric_math_alarm() -> None:
    data = {
        "AlarmName": "error-rate",
        "NewStateValue": "ALARM",
        "AlarmArn": "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:error-rate",
        "Trigger": {
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.05,
            "Metrics": [
                {"Id": "e1", "Expression": "errors / requests", "Label": "rate", "ReturnData": True},
                {
                    "Id": "errors",
                    "ReturnData": False,
                    "MetricStat": {
                        "Metric": {"MetricName": "5XXError", "Namespace": "AWS/ApiGateway"},
                        "Period": 300,
                        "Stat": "Sum",
                    },
                },
                "not a metric",
            ],
        },
    }
    alarm = parse_cloudwatch_alarm(data, "{}")
    assert alarm is not None
    assert alarm.region_code == "cn-north-1"
    assert alarm.trigger.threshold == Decimal("0.05")
    assert alarm.trigger.metric_name is None
    assert alarm.trigger.metrics == (
        AlarmMetric(
            id="e1",
            expression="errors / requests",
            label="rate",
            return_data=True,
            metric_name=None,
            namespace=None,
            dimensions=(),
            period=None,
            stat=None,
        ),
        AlarmMetric(
            id="errors",
            expression=None,
            label=None,
            return_data=False,
            metric_name="5XXError",
            namespace="AWS/ApiGateway",
            dimensions=(),
            period=300,
            stat="Sum",
        ),
    )


def test_extended_statistic() -> None:
    alarm = parse_cloudwatch_alarm(
        {"AlarmName": "p99", "NewStateValue": "OK", "Trigger": {"ExtendedStatistic": "p99"}}, "{}"
    )
    assert alarm is not None
    assert alarm.trigger.statistic == "p99"


@pytest.mark.parametrize(
    "data",
    [{}, {"AlarmName": "x"}, {"NewStateValue": "ALARM"}, {"AlarmName": 1, "NewStateValue": "ALARM"}],
)
def test_not_an_alarm(data: dict[str, object]) -> None:
    assert parse_cloudwatch_alarm(data, "{}") is None


def test_wrong_types_give_a_partial_alarm() -> None:
    data = {
        "AlarmName": "x",
        "NewStateValue": "ALARM",
        "OldStateValue": 7,
        "StateChangeTime": "yesterday",
        "AlarmArn": "not an arn",
        "Trigger": {
            "Period": "60",
            "EvaluationPeriods": True,
            "Threshold": "NaN",
            "Dimensions": [{"name": "a"}, {"name": "b", "value": 2}, ["c", "d"], {"name": "e", "value": "f"}],
            "Metrics": {"Id": "m1"},
        },
    }
    alarm = parse_cloudwatch_alarm(data, "{}")
    assert alarm == CloudWatchAlarm(
        name="x",
        description=None,
        account_id=None,
        region=None,
        region_code=None,
        alarm_arn="not an arn",
        old_state=None,
        new_state="ALARM",
        reason=None,
        state_change_time=None,
        trigger=AlarmTrigger(
            metric_name=None,
            namespace=None,
            statistic=None,
            period=None,
            evaluation_periods=None,
            datapoints_to_alarm=None,
            comparison_operator=None,
            threshold=None,
            dimensions=(("e", "f"),),
            unit=None,
            treat_missing_data=None,
        ),
        raw="{}",
    )


def test_trigger_not_an_object() -> None:
    alarm = parse_cloudwatch_alarm({"AlarmName": "x", "NewStateValue": "OK", "Trigger": "none"}, "{}")
    assert alarm is not None
    assert alarm.trigger.metrics == ()
    assert alarm.trigger.threshold is None
    assert CloudWatchAlarm.producer == "cloudwatch"
