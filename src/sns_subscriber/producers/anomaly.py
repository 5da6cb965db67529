"""AWS Cost Anomaly Detection alerts (JSON, one anomaly per message)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

from ._common import get_decimal, get_items, get_mapping, get_text, get_time

__all__ = ["AnomalyRootCause", "CostAnomaly", "parse_cost_anomaly"]

# "anomalyId" alone is too common a word to claim a payload; one of these must come with it.
_MARKERS: Final = ("impact", "anomalyScore", "monitorArn", "rootCauses", "anomalyStartDate")


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyRootCause:
    """One dimension combination AWS blames for the anomaly."""

    service: str | None
    region: str | None
    usage_type: str | None
    linked_account: str | None
    linked_account_name: str | None
    #: This root cause's share of the impact (``impact.contribution``), when given.
    contribution: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CostAnomaly:
    """One Cost Anomaly Detection alert. Amounts are in the account's billing currency."""

    producer: ClassVar[str] = "cost-anomaly"

    anomaly_id: str
    account_id: str | None
    account_name: str | None
    start_date: datetime | None
    end_date: datetime | None
    dimensional_value: str | None
    monitor_name: str | None
    monitor_arn: str | None
    monitor_type: str | None
    max_impact: Decimal | None
    total_impact: Decimal | None
    total_impact_percentage: Decimal | None
    total_expected_spend: Decimal | None
    total_actual_spend: Decimal | None
    max_score: Decimal | None
    current_score: Decimal | None
    root_causes: tuple[AnomalyRootCause, ...]
    details_link: str | None
    subscription_id: str | None
    subscription_name: str | None
    raw: str


def _root_cause(data: Mapping[str, Any]) -> AnomalyRootCause:
    return AnomalyRootCause(
        service=get_text(data, "service"),
        region=get_text(data, "region"),
        usage_type=get_text(data, "usageType"),
        linked_account=get_text(data, "linkedAccount"),
        linked_account_name=get_text(data, "linkedAccountName"),
        contribution=get_decimal(get_mapping(data, "impact"), "contribution"),
    )


def parse_cost_anomaly(data: Mapping[str, Any], raw: str) -> CostAnomaly | None:
    """The anomaly in ``data``; ``None`` if ``data`` is not a Cost Anomaly Detection alert."""
    anomaly_id = get_text(data, "anomalyId")
    if anomaly_id is None or not any(key in data for key in _MARKERS):
        return None
    impact, score = get_mapping(data, "impact"), get_mapping(data, "anomalyScore")
    return CostAnomaly(
        anomaly_id=anomaly_id,
        account_id=get_text(data, "accountId"),
        account_name=get_text(data, "accountName"),
        start_date=get_time(data, "anomalyStartDate"),
        end_date=get_time(data, "anomalyEndDate"),
        dimensional_value=get_text(data, "dimensionalValue"),
        monitor_name=get_text(data, "monitorName"),
        monitor_arn=get_text(data, "monitorArn"),
        monitor_type=get_text(data, "monitorType"),
        max_impact=get_decimal(impact, "maxImpact"),
        total_impact=get_decimal(impact, "totalImpact"),
        total_impact_percentage=get_decimal(impact, "totalImpactPercentage"),
        total_expected_spend=get_decimal(impact, "totalExpectedSpend"),
        total_actual_spend=get_decimal(impact, "totalActualSpend"),
        max_score=get_decimal(score, "maxScore"),
        current_score=get_decimal(score, "currentScore"),
        root_causes=tuple(_root_cause(c) for c in get_items(data, "rootCauses") if isinstance(c, Mapping)),
        details_link=get_text(data, "anomalyDetailsLink"),
        subscription_id=get_text(data, "subscriptionId"),
        subscription_name=get_text(data, "subscriptionName"),
        raw=raw,
    )
