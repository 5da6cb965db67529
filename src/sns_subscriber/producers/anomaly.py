"""AWS Cost Anomaly Detection alerts (JSON, one anomaly per message)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

from ._common import decimal, items, mapping, text, time

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
        service=text(data, "service"),
        region=text(data, "region"),
        usage_type=text(data, "usageType"),
        linked_account=text(data, "linkedAccount"),
        linked_account_name=text(data, "linkedAccountName"),
        contribution=decimal(mapping(data, "impact"), "contribution"),
    )


def parse_cost_anomaly(data: Mapping[str, Any], raw: str) -> CostAnomaly | None:
    """The anomaly in ``data``; ``None`` if ``data`` is not a Cost Anomaly Detection alert."""
    anomaly_id = text(data, "anomalyId")
    if anomaly_id is None or not any(key in data for key in _MARKERS):
        return None
    impact, score = mapping(data, "impact"), mapping(data, "anomalyScore")
    return CostAnomaly(
        anomaly_id=anomaly_id,
        account_id=text(data, "accountId"),
        account_name=text(data, "accountName"),
        start_date=time(data, "anomalyStartDate"),
        end_date=time(data, "anomalyEndDate"),
        dimensional_value=text(data, "dimensionalValue"),
        monitor_name=text(data, "monitorName"),
        monitor_arn=text(data, "monitorArn"),
        monitor_type=text(data, "monitorType"),
        max_impact=decimal(impact, "maxImpact"),
        total_impact=decimal(impact, "totalImpact"),
        total_impact_percentage=decimal(impact, "totalImpactPercentage"),
        total_expected_spend=decimal(impact, "totalExpectedSpend"),
        total_actual_spend=decimal(impact, "totalActualSpend"),
        max_score=decimal(score, "maxScore"),
        current_score=decimal(score, "currentScore"),
        root_causes=tuple(_root_cause(c) for c in items(data, "rootCauses") if isinstance(c, Mapping)),
        details_link=text(data, "anomalyDetailsLink"),
        subscription_id=text(data, "subscriptionId"),
        subscription_name=text(data, "subscriptionName"),
        raw=raw,
    )
