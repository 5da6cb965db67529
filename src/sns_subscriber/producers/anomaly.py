"""AWS Cost Anomaly Detection alerts (JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from ._common import decimal, items, mapping, text, timestamp

__all__ = ["AnomalyRootCause", "CostAnomaly", "parse_cost_anomaly"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyRootCause:
    service: str | None
    region: str | None
    usage_type: str | None
    linked_account: str | None
    linked_account_name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CostAnomaly:
    producer: ClassVar[str] = "cost-anomaly"

    anomaly_id: str
    account_id: str | None
    account_name: str | None
    start: datetime | None
    end: datetime | None
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
    raw: str


def parse_cost_anomaly(data: Mapping[str, Any], raw: str) -> CostAnomaly | None:
    anomaly_id = text(data, "anomalyId")
    if anomaly_id is None:
        return None
    impact, score = mapping(data, "impact"), mapping(data, "anomalyScore")
    causes = tuple(
        AnomalyRootCause(
            service=text(c, "service"),
            region=text(c, "region"),
            usage_type=text(c, "usageType"),
            linked_account=text(c, "linkedAccount"),
            linked_account_name=text(c, "linkedAccountName"),
        )
        for c in items(data, "rootCauses")
        if isinstance(c, dict)
    )
    return CostAnomaly(
        anomaly_id=anomaly_id,
        account_id=text(data, "accountId"),
        account_name=text(data, "accountName"),
        start=timestamp(data, "anomalyStartDate"),
        end=timestamp(data, "anomalyEndDate"),
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
        root_causes=causes,
        details_link=text(data, "anomalyDetailsLink"),
        raw=raw,
    )
