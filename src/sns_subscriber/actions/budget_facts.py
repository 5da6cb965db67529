"""What a budget alert says, as display text shared by every destination (e-mail, Slack, Teams).

One place decides the wording, so the e-mail subject, the chat message and the Adaptive Card
cannot drift apart: the headline (``AWS budget team-a-prod: actual $95.12 passed 90% of
$100.00``; a forecast *is forecast to pass*, never "exceeded"), the link to the budget in the
AWS console, and how far into the budget period the alert came.

Values are plain text taken from a signed but hostile message: each destination escapes them
for its own format (HTML autoescaping, Slack mrkdwn, Adaptive Card text).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final
from urllib.parse import quote

from ..producers.budgets import BudgetAlert, format_percent
from .owners import clean_display_text

__all__ = ["BudgetFacts", "PeriodProgress", "budget_console_url", "budget_facts", "money"]

_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_SYMBOLS: Final = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
# The base of the "[1]" dashboard link of current Budgets alerts (tests/data/producers).
CONSOLE_BUDGETS: Final = "https://console.aws.amazon.com/costmanagement/home#/budgets"
# Budgets API: a budget name is 1-100 characters and contains neither ":" nor "\".
_MAX_BUDGET_NAME: Final = 100
_VERBS: Final = {
    # comparison: (actual, actual in a sentence, forecast)
    "GREATER_THAN": ("passed", "has passed", "is forecast to pass"),
    "LESS_THAN": ("fell below", "has fallen below", "is forecast to fall below"),
    "EQUAL_TO": ("reached", "has reached", "is forecast to reach"),
}


def money(value: Decimal | None, currency: str | None) -> str | None:
    """``Decimal("95.12"), "USD"`` -> ``"$95.12"``; ``None`` when unknown."""
    if value is None:
        return None
    if currency is None:
        return f"{value:f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{value:,.2f}" if symbol else f"{value:,.2f} {currency}"


def date_text(value: date | None) -> str | None:
    """``November 28, 2026``. Not strftime("%B"): that follows the process locale."""
    return None if value is None else f"{_MONTHS[value.month - 1]} {value.day}, {value.year}"


def budget_console_url(budget_name: str | None) -> str | None:
    """The budget's page in the AWS console; ``None`` for a name AWS could not have issued."""
    if not budget_name or len(budget_name) > _MAX_BUDGET_NAME or ":" in budget_name or "\\" in budget_name:
        return None
    if any(ch < " " or ch == "\x7f" for ch in budget_name):
        return None
    return f"{CONSOLE_BUDGETS}/details?name={quote(budget_name, safe='')}"


@dataclass(frozen=True, slots=True)
class PeriodProgress:
    """The budget period an alert belongs to and how far into it the alert came."""

    label: str  # "November 2026", "Q4 2026", "2026", "March 4, 2023"
    day: int | None = None  # day of the period (1-based); None for a daily budget
    days: int | None = None

    @property
    def percent(self) -> int | None:
        if self.day is None or not self.days:
            return None
        return round(self.day * 100 / self.days)

    @property
    def text(self) -> str:
        """``November 2026, day 28 of 30 (93% through)``, or ``March 4, 2023 (the whole day)``."""
        if self.day is None or self.days is None:
            return f"{self.label} (the whole day)"
        return f"{self.label}, day {self.day} of {self.days} ({self.percent}% through)"


def period_progress(period: str | None, on: date | None) -> PeriodProgress | None:
    """Budgets periods are calendar periods in UTC; a daily alert reports the day before."""
    if period is None or on is None:
        return None
    if period == "daily":
        return PeriodProgress(date_text(on - timedelta(days=1)) or "")
    if period == "monthly":
        days = calendar.monthrange(on.year, on.month)[1]
        return PeriodProgress(f"{_MONTHS[on.month - 1]} {on.year}", on.day, days)
    if period == "quarterly":
        quarter = (on.month - 1) // 3
        start = date(on.year, quarter * 3 + 1, 1)
        end = date(on.year + 1, 1, 1) if quarter == 3 else date(on.year, quarter * 3 + 4, 1)
        return PeriodProgress(f"Q{quarter + 1} {on.year}", (on - start).days + 1, (end - start).days)
    if period == "annual":
        start = date(on.year, 1, 1)
        days = 366 if calendar.isleap(on.year) else 365
        return PeriodProgress(str(on.year), (on - start).days + 1, days)
    return None


@dataclass(frozen=True, slots=True)
class BudgetFacts:
    """Display text for one alert; every field is ``None`` when the alert did not say."""

    budget_name: str | None
    account_id: str | None
    alert_type: str | None
    is_forecast: bool
    amount: str | None
    budgeted: str | None
    threshold_percent: str | None  # "90%"
    threshold_amount: str | None  # "$90.00"
    threshold: str  # "90% of $100.00", "$90.00", "its alert threshold"
    verb: str  # "has passed", "is forecast to pass"
    summary: str  # "actual $95.12 passed 90% of $100.00"
    headline: str  # "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
    console_url: str | None
    period: str | None  # "monthly"
    progress: PeriodProgress | None
    notification_date: str | None


def _exact(alert: BudgetAlert) -> bool:
    if alert.threshold_amount is None or alert.budgeted_amount is None or alert.threshold_percent is None:
        return True
    return abs(alert.budgeted_amount * alert.threshold_percent / 100 - alert.threshold_amount) < Decimal(
        "0.005"
    )


def budget_facts(alert: BudgetAlert) -> BudgetFacts:
    """The display facts of ``alert``; never raises, whatever the alert could not say."""
    percent = format_percent(alert.threshold_percent) if alert.threshold_percent is not None else None
    threshold_percent = f"{percent}%" if percent is not None else None
    threshold_amount = alert.threshold_amount_text or money(alert.threshold_amount, alert.currency)
    budgeted = alert.budgeted_amount_text or money(alert.budgeted_amount, alert.currency)
    amount = alert.amount_text or money(alert.amount, alert.currency)
    if threshold_percent and budgeted and alert.threshold_percent:
        # "90% of $100.00" when that is exactly the threshold; a rounded percentage
        # (33.33%) or a tiny one keeps the amount AWS compared against in front.
        threshold = f"{threshold_percent} of {budgeted}"
        if threshold_amount and not _exact(alert):
            threshold = f"{threshold_amount} ({threshold})"
    elif threshold_amount:
        threshold = threshold_amount
    elif threshold_percent:
        threshold = f"{threshold_percent} of its budget"
    else:
        threshold = threshold_amount or "its alert threshold"
    is_forecast = alert.alert_type == "FORECASTED"
    actual_verb, perfect_verb, forecast_verb = _VERBS[alert.comparison or "GREATER_THAN"]
    if is_forecast:
        summary = f"{forecast_verb} {threshold}" + (f" (forecast {amount})" if amount else "")
    elif alert.alert_type == "ACTUAL" and amount:
        summary = f"actual {amount} {actual_verb} {threshold}"
    else:
        summary = f"{actual_verb} {threshold}" + (f" (amount {amount})" if amount else "")
    name = clean_display_text(alert.budget_name)
    headline = f"AWS budget {name}: {summary}" if name else f"AWS budget alert: {summary}"
    return BudgetFacts(
        budget_name=name,
        account_id=alert.account_id,
        alert_type=alert.alert_type,
        is_forecast=is_forecast,
        amount=amount,
        budgeted=budgeted,
        threshold_percent=threshold_percent,
        threshold_amount=threshold_amount,
        threshold=threshold,
        verb=forecast_verb if is_forecast else perfect_verb,
        summary=summary,
        headline=headline,
        console_url=budget_console_url(alert.budget_name),
        period=alert.period,
        progress=period_progress(alert.period, alert.notification_date),
        notification_date=date_text(alert.notification_date),
    )
