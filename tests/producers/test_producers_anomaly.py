"""Cost Anomaly Detection: the real message and AWS's own example with their exact values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sns_subscriber.producers import detect_text
from sns_subscriber.producers.anomaly import AnomalyRootCause, CostAnomaly, parse_cost_anomaly

from .producer_fixtures import read


def test_real_anomaly() -> None:
    raw = read("cost-anomaly-detection-2023-04-11.message.json")
    assert parse_cost_anomaly(json.loads(raw), raw) == CostAnomaly(
        anomaly_id="6de0dd1d-feb4-488a-a55d-ff130a7a285a",
        # The source had already redacted the id to ten digits; it is kept as given.
        account_id="1234567890",
        account_name="opg-account",
        start_date=datetime(2023, 4, 5, tzinfo=UTC),
        end_date=datetime(2023, 4, 10, tzinfo=UTC),
        dimensional_value="AWS CloudTrail",
        monitor_name="AWSServiceMonitor",
        monitor_arn="arn:aws:ce::1234567890:anomalymonitor/bdafded2-49c6-407e-885a-e29618f58b2a",
        monitor_type="DIMENSIONAL",
        max_impact=Decimal("2.48"),
        total_impact=Decimal("11.82"),
        total_impact_percentage=Decimal("4377.78"),
        total_expected_spend=Decimal("0.27"),
        total_actual_spend=Decimal("12.09"),
        max_score=Decimal("0.67"),
        current_score=Decimal("0.51"),
        root_causes=(
            AnomalyRootCause(
                service="AWS CloudTrail",
                region="eu-west-1",
                usage_type="EU-InsightsEvents",
                linked_account="1234567890",
                linked_account_name="opg-account",
            ),
        ),
        details_link="https://console.aws.amazon.com/cost-management/home#/anomaly-detection/monitors/",
        subscription_id="458ba0da-929a-4de9-b38b-7a2381a32561",
        subscription_name="Immediate Subscription",
        raw=raw,
    )


def test_aws_documentation_example_despite_its_trailing_comma() -> None:
    raw = read("cost-anomaly-detection.doc-example.message.txt")
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert detect_text(raw) == CostAnomaly(
        anomaly_id="12345678-abcd-ef12-3456-987654321a12",
        account_id="123456789012",
        account_name=None,
        start_date=datetime(2021, 5, 25, tzinfo=UTC),
        end_date=datetime(2021, 5, 25, tzinfo=UTC),
        dimensional_value="ServiceName",
        monitor_name=None,
        monitor_arn="arn:aws:ce::123456789012:anomalymonitor/abcdef12-1234-4ea0-84cc-918a97d736ef",
        monitor_type=None,
        max_impact=Decimal("151"),
        total_impact=Decimal("1001"),
        total_impact_percentage=Decimal("333.67"),
        total_expected_spend=Decimal("300"),
        total_actual_spend=Decimal("1301"),
        max_score=Decimal("0.47"),
        current_score=Decimal("0.47"),
        root_causes=(
            AnomalyRootCause(
                service="AnomalousServiceName",
                region="AnomalousRegionName",
                usage_type="AnomalousUsageType",
                linked_account="AnomalousLinkedAccount",
                linked_account_name="AnomalousLinkedAccountName",
                contribution=Decimal("601"),
            ),
        ),
        details_link=(
            "https://console.aws.amazon.com/cost-management/home#/anomaly-detection/monitors/"
            "abcdef12-1234-4ea0-84cc-918a97d736ef/anomalies/12345678-abcd-ef12-3456-987654321a12"
        ),
        subscription_id="874c100c-59a6-4abb-a10a-4682cc3f2d69",
        subscription_name="alertSubscription",
        raw=raw,
    )


@pytest.mark.parametrize(
    "data",
    [{}, {"anomalyId": "a"}, {"anomalyId": 5, "impact": {}}, {"impact": {"totalImpact": 1}}],
    ids=["empty", "id-alone", "id-not-a-string", "no-id"],
)
def test_not_an_anomaly(data: dict[str, object]) -> None:
    assert parse_cost_anomaly(data, "{}") is None


def test_wrong_types_give_a_partial_anomaly() -> None:
    data = {
        "anomalyId": "a",
        "anomalyStartDate": 20230405,
        "anomalyEndDate": "not a date",
        "impact": {
            "maxImpact": "12.5",
            "totalImpact": True,
            "totalActualSpend": "Infinity",
            "totalExpectedSpend": [],
        },
        "anomalyScore": "high",
        "rootCauses": [{"service": 1, "impact": {"contribution": "x"}}, "cause"],
    }
    assert parse_cost_anomaly(data, "{}") == CostAnomaly(
        anomaly_id="a",
        account_id=None,
        account_name=None,
        start_date=None,
        end_date=None,
        dimensional_value=None,
        monitor_name=None,
        monitor_arn=None,
        monitor_type=None,
        max_impact=Decimal("12.5"),
        total_impact=None,
        total_impact_percentage=None,
        total_expected_spend=None,
        total_actual_spend=None,
        max_score=None,
        current_score=None,
        root_causes=(
            AnomalyRootCause(
                service=None, region=None, usage_type=None, linked_account=None, linked_account_name=None
            ),
        ),
        details_link=None,
        subscription_id=None,
        subscription_name=None,
        raw="{}",
    )
    assert CostAnomaly.producer == "cost-anomaly"
