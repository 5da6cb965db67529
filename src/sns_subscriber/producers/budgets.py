"""AWS Budgets alerts (plain text, not JSON) and the "SNS Topic Verified!" test message.

The alert is prose plus ``Key: value`` lines (reference §4.3; every real sample is under
tests/data/budgets). Parsing is tolerant: any text gives a :class:`BudgetAlert`, with
``complete=False`` and ``None`` fields where the wording was not recognised, and the raw text
always kept. Delivery never fails because of the wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import ClassVar, Final, Literal

__all__ = [
    "AlertType",
    "BudgetAlert",
    "BudgetPeriod",
    "BudgetTopicVerified",
    "format_percent",
    "is_topic_verified_message",
    "parse_budget_alert",
]

BudgetPeriod = Literal["daily", "monthly", "quarterly", "annual"]
AlertType = Literal["ACTUAL", "FORECASTED"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetAlert:
    """One AWS Budgets threshold alert. Fields are ``None`` when the text did not say."""

    producer: ClassVar[str] = "budgets"

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

    @property
    def threshold_percent_text(self) -> str | None:
        """``"90%"``, ``"80.5%"``; ``None`` when unknown."""
        return None if self.threshold_percent is None else f"{format_percent(self.threshold_percent)}%"


@dataclass(frozen=True, slots=True)
class BudgetTopicVerified:
    """The test notification AWS Budgets sends when a topic is attached to a budget."""

    producer: ClassVar[str] = "budgets-test"

    raw: str


TOPIC_VERIFIED: Final = "SNS Topic Verified"

_SYMBOLS: Final = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_AMOUNT: Final = re.compile(
    r"(?P<pre>[$€£¥₹]|[A-Z]{3}\s?)?\s*(?P<number>-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)"
    r"\s*(?P<post>%|[A-Z]{3}\b)?(?:\s*(?P<unit>[A-Za-z][A-Za-z/-]*))?"
)
_HEADER_DATE: Final = re.compile(r"AWS Budget Notification\s+(?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})")
_ACCOUNT: Final = re.compile(r"AWS Account\s+(?P<account>\d{12})\b")
_SENTENCE: Final = re.compile(
    r"alert you when the (?P<kind>ACTUAL|FORECASTED) (?P<measure>[A-Za-z ]+?) associated with your "
    r"(?P<name>.+?) budget is greater than (?P<threshold>\S+)"
    r"(?: (?P<span>per day|for the current (?P<unit>month|quarter|year)))?\.",
    re.DOTALL,
)
_PERCENT_OF_BUDGET: Final = re.compile(r"\((?P<pct>\d+(?:\.\d+)?)\s*% of your budget\)")
_LINE: Final = re.compile(r"^(?P<key>[A-Za-z][A-Za-z ]*?):\s*(?P<value>.*?)\s*$", re.MULTILINE)
_BUDGET_TYPES: Final = {
    "cost": "cost",
    "usage": "usage",
    "ri utilization": "ri_utilization",
    "ri coverage": "ri_coverage",
    "reservation utilization": "ri_utilization",
    "reservation coverage": "ri_coverage",
    "savings plans utilization": "savings_plans_utilization",
    "savings plans coverage": "savings_plans_coverage",
}
_PERIODS: Final[dict[str, BudgetPeriod]] = {"month": "monthly", "quarter": "quarterly", "year": "annual"}


def format_percent(value: Decimal) -> str:
    """``Decimal("90.00")`` -> ``"90"``, ``Decimal("80.50")`` -> ``"80.5"`` (never ``9E+1``)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _normalise_percent(value: Decimal) -> Decimal:
    return Decimal(format_percent(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)))


@dataclass(frozen=True, slots=True)
class _Amount:
    value: Decimal
    currency: str | None
    percent: bool
    text: str


def _amount(text: str | None) -> _Amount | None:
    if not text:
        return None
    match = _AMOUNT.search(text)
    if match is None:
        return None
    try:
        value = Decimal(match["number"].replace(",", ""))
    except InvalidOperation:
        return None
    pre, post = (match["pre"] or "").strip(), match["post"] or ""
    currency = _SYMBOLS.get(pre) or (pre if len(pre) == 3 else None) or (post if len(post) == 3 else None)
    return _Amount(value, currency, post == "%", match.group(0).strip())


def is_topic_verified_message(text: str, subject: str | None) -> bool:
    """Recognise the Budgets "SNS Topic Verified!" test notification (by Subject or text)."""
    return TOPIC_VERIFIED.lower() in (subject or "").lower() or text.strip().lower().startswith(
        TOPIC_VERIFIED.lower()
    )


def looks_like_budget_alert(text: str) -> bool:
    return text.lstrip().startswith("AWS Budget Notification")


def parse_budget_alert(text: str) -> BudgetAlert:
    """Parse an AWS Budgets alert; never raises for any ``str``."""
    lines = {m["key"].strip().lower(): m["value"] for m in _LINE.finditer(text)}
    sentence = _SENTENCE.search(text)
    notification_date = _date(text)
    account = _ACCOUNT.search(text)

    alert_type = _alert_type(lines.get("alert type") or (sentence["kind"] if sentence else None))
    budget_name = lines.get("budget name") or (sentence["name"].strip() if sentence else None)
    measure = lines.get("budget type") or (sentence["measure"] if sentence else None)
    budget_type = _BUDGET_TYPES.get(measure.strip().lower()) if measure else None

    budgeted = _amount(lines.get("budgeted amount"))
    threshold = _amount(lines.get("alert threshold")) or (
        _amount(sentence["threshold"]) if sentence else None
    )
    amount = _amount(lines.get(f"{alert_type.lower()} amount")) if alert_type else None
    if amount is None:
        amount = _amount(lines.get("actual amount") or lines.get("forecasted amount"))

    period = _period(sentence)
    threshold_amount, threshold_percent = _threshold(text, threshold, budgeted)
    currency = next((a.currency for a in (budgeted, threshold, amount) if a is not None and a.currency), None)
    fields = (
        account,
        budget_name,
        budget_type,
        period,
        alert_type,
        budgeted,
        threshold,
        amount,
        notification_date,
    )
    return BudgetAlert(
        raw=text,
        account_id=account["account"] if account else None,
        budget_name=budget_name or None,
        budget_type=budget_type,
        period=period,
        alert_type=alert_type,
        currency=currency,
        budgeted_amount=budgeted.value if budgeted else None,
        threshold_amount=threshold_amount,
        threshold_percent=threshold_percent,
        amount=amount.value if amount else None,
        notification_date=notification_date,
        budgeted_amount_text=budgeted.text if budgeted else None,
        threshold_amount_text=threshold.text if threshold and not threshold.percent else None,
        amount_text=amount.text if amount else None,
        complete=all(f is not None and f != "" for f in fields),
    )


def _date(text: str) -> date | None:
    match = _HEADER_DATE.search(text)
    if match is None:
        return None
    try:
        return datetime.strptime(match["date"], "%B %d, %Y").date()
    except ValueError:
        return None


def _alert_type(value: str | None) -> AlertType | None:
    if value is None:
        return None
    upper = value.strip().upper()
    if upper == "ACTUAL":
        return "ACTUAL"
    if upper == "FORECASTED":
        return "FORECASTED"
    return None


def _period(sentence: re.Match[str] | None) -> BudgetPeriod | None:
    if sentence is None or sentence["span"] is None:
        return None
    if sentence["span"] == "per day":
        return "daily"
    return _PERIODS.get(sentence["unit"])


def _threshold(
    text: str, threshold: _Amount | None, budgeted: _Amount | None
) -> tuple[Decimal | None, Decimal | None]:
    """(threshold amount, threshold percent): read when the text gives them, else computed."""
    stated = _PERCENT_OF_BUDGET.search(text)
    percent: Decimal | None = _normalise_percent(Decimal(stated["pct"])) if stated else None
    amount: Decimal | None = None
    if threshold is not None and threshold.percent:
        percent = _normalise_percent(threshold.value)
        if budgeted is not None:
            amount = (budgeted.value * threshold.value / 100).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
    elif threshold is not None:
        amount = threshold.value
        if percent is None and budgeted is not None and budgeted.value != 0:
            percent = _normalise_percent(threshold.value / budgeted.value * 100)
    return amount, percent
