"""AWS Budgets alerts (plain text) and Cost Anomaly Detection messages.

(Parser to be written; the model below is the contract other modules use.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

BudgetPeriod = Literal["daily", "monthly", "quarterly", "annual"]
AlertType = Literal["ACTUAL", "FORECASTED"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetAlert:
    """One AWS Budgets threshold alert. Fields are ``None`` when the text did not say."""

    raw: str
    account_id: str | None = None
    budget_name: str | None = None
    budget_type: str | None = None  # "cost", "usage", "ri_utilization", "ri_coverage",
    # "savings_plans_utilization", "savings_plans_coverage"
    period: BudgetPeriod | None = None
    alert_type: AlertType | None = None
    currency: str | None = None  # ISO 4217 code when known ("USD" for "$")
    budgeted_amount: Decimal | None = None
    threshold_amount: Decimal | None = None
    threshold_percent: Decimal | None = None
    amount: Decimal | None = None  # the ACTUAL or FORECASTED amount
    notification_date: date | None = None
    #: Amounts exactly as written in the alert (e.g. "$100.00"), for display.
    budgeted_amount_text: str | None = None
    threshold_amount_text: str | None = None
    amount_text: str | None = None
    #: True when every field the format defines was found.
    complete: bool = False
