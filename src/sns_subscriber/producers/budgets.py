"""AWS Budgets alerts (plain text, not JSON) and the "SNS Topic Verified!" test message.

An alert is a sentence of prose plus ``Key: value`` lines (every real sample is under
``tests/data/producers``, with its source in ``SOURCES.md``)::

    AWS Budget Notification March 05, 2023
    AWS Account 265627204426
    ...
    You requested that we alert you when the ACTUAL Cost associated with your killswitch
    budget is greater than $0.75 per day. Yesterday, the ACTUAL Cost ...

    Budget Name: killswitch
    Budget Type: Cost
    Budgeted Amount: $5.00
    Alert Type: ACTUAL
    Alert Threshold: > $0.75
    ACTUAL Amount: $1.70

The ``Key: value`` lines win over the sentence when both say something, because they are
the stable part of the format; the sentence supplies what only it says (the period).
Parsing is tolerant: any ``str`` gives a :class:`BudgetAlert`, with ``complete=False`` and
``None`` fields where the wording was not recognised, and the raw text always kept.
Delivery never fails because of the wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import ClassVar, Final, Literal

__all__ = [
    "TOPIC_VERIFIED",
    "AlertType",
    "BudgetAlert",
    "BudgetPeriod",
    "BudgetTopicVerified",
    "Comparison",
    "format_percent",
    "is_topic_verified_message",
    "looks_like_budget_alert",
    "parse_budget_alert",
]

BudgetPeriod = Literal["daily", "monthly", "quarterly", "annual"]
AlertType = Literal["ACTUAL", "FORECASTED"]
#: Named like the Budgets API's ``ComparisonOperator``.
Comparison = Literal["GREATER_THAN", "LESS_THAN", "EQUAL_TO"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetAlert:
    """One AWS Budgets threshold alert. Fields are ``None`` when the text did not say.

    ``budget_type`` is one of ``"cost"``, ``"usage"``, ``"ri_utilization"``,
    ``"ri_coverage"``, ``"savings_plans_utilization"``, ``"savings_plans_coverage"``.
    ``threshold_percent`` is the threshold as a percentage of the budgeted amount: read from
    the text when it gives one (``(80.0% of your budget)``, ``> 80%``), else computed from
    the two amounts and rounded to 2 places (``Decimal("80")``, ``Decimal("12.5")``).
    """

    producer: ClassVar[str] = "budgets"

    raw: str
    account_id: str | None = None
    budget_name: str | None = None
    budget_type: str | None = None
    period: BudgetPeriod | None = None
    alert_type: AlertType | None = None
    #: ISO 4217 code when known ("USD" for "$").
    currency: str | None = None
    budgeted_amount: Decimal | None = None
    threshold_amount: Decimal | None = None
    threshold_percent: Decimal | None = None
    #: The ACTUAL or FORECASTED amount.
    amount: Decimal | None = None
    notification_date: date | None = None
    #: Amounts exactly as written in the alert (e.g. "$100.00"), for display.
    budgeted_amount_text: str | None = None
    threshold_amount_text: str | None = None
    amount_text: str | None = None
    #: True when every field the format defines was found.
    complete: bool = False
    #: The unit of a usage budget's amounts as written ("Hrs", "GB"); ``None`` for money.
    unit: str | None = None
    comparison: Comparison | None = None
    #: The "[1]" Budgets console link of the alert.
    dashboard_url: str | None = None

    @property
    def threshold_percent_text(self) -> str | None:
        """``"90%"``, ``"80.5%"``; ``None`` when unknown."""
        return None if self.threshold_percent is None else f"{format_percent(self.threshold_percent)}%"


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetTopicVerified:
    """The test notification AWS Budgets sends when a topic is attached to a budget.

    Only its Subject, ``SNS Topic Verified!``, is attested publicly; acknowledge it and move on.
    """

    producer: ClassVar[str] = "budgets-test"

    raw: str
    subject: str | None = None


TOPIC_VERIFIED: Final = "SNS Topic Verified"
_HEADER: Final = "AWS Budget Notification"

_SYMBOLS: Final = {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
# A closed list, so that a usage unit such as "HRS" is never taken for a currency.
_CURRENCY_CODES: Final = frozenset(
    {"USD", "EUR", "GBP", "JPY", "CNY", "INR", "AUD", "CAD", "CHF", "SEK"}
    | {"NOK", "DKK", "PLN", "BRL", "KRW", "HKD", "SGD", "NZD", "MXN", "ZAR"}
)
_AMOUNT: Final = re.compile(
    r"(?P<sign>[-−])?"
    r"(?P<pre>US\$|[$€£¥₹]|\b[A-Z]{3}(?=[ \t\u00a0]?[-−]?\d))?[ \t\u00a0]?"
    r"(?P<sign2>[-−])?"
    # 1,234.56 | 1.234,56 | 1234.56 | 12,50 (a lone comma before 1-2 or 4+ digits is decimal)
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?:\.\d{3})+,\d+|\d+(?:[.,]\d+)?)"
    r"(?:[ \t\u00a0]?(?P<post>%|[$€£¥₹]|[A-Za-z][A-Za-z/-]{0,15}\b))?"
)
_THOUSANDS: Final = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_HEADER_DATE: Final = re.compile(
    _HEADER + r"[ \t]+(?P<month>[A-Za-z]{3,9})\.?[ \t]+(?P<day>\d{1,2}),?[ \t]*(?P<year>\d{4})\b"
)
_ACCOUNT: Final = re.compile(r"\bAWS Account:?[ \t]+(?P<account>\d{12})\b")
# Bounded repeats keep a search over a hostile 256 KiB message linear.
_SENTENCE: Final = re.compile(
    r"alert you when the (?P<kind>[A-Za-z]{1,20}) (?P<measure>[A-Za-z][A-Za-z ]{0,60}?) associated with "
    r"your (?P<name>[^\n]{1,300}?) budget is (?P<cmp>greater than|less than|equal to) "
    r"(?P<threshold>[^\s(]{1,80})",
    re.IGNORECASE,
)
_PERIOD: Final = re.compile(
    r"\bper (?P<per>day|month|quarter|year)\b|\bfor the current (?P<current>month|quarter|year)\b"
    r"|\b(?P<yesterday>Yesterday)\b",
    re.IGNORECASE,
)
_PERCENT_OF_BUDGET: Final = re.compile(r"\((?P<pct>\d{1,20}(?:\.\d{1,20})?)[ \t]?% of (?:your|the) budget\)")
# A "Key: value" line's key (after stripping spaces and tabs around it); checked on at most
# 41 characters. The value is the rest of the line, stripped: no regex looks at it, because
# a pattern with a lazy value and an optional trailing-blank run was quadratic on a line of
# spaces (seconds for 30 KB, GIL held).
_KEY: Final = re.compile(r"[A-Za-z][A-Za-z ]{0,40}")
_MAX_KEY: Final = 41
_DASHBOARD: Final = re.compile(r"^\[1\][ \t]+(?P<url>https://\S{1,2000})", re.MULTILINE)
_COMPARISON_WORDS: Final[dict[str, Comparison]] = {
    "greater than": "GREATER_THAN",
    "less than": "LESS_THAN",
    "equal to": "EQUAL_TO",
}
_COMPARISON_SIGNS: Final[dict[str, Comparison]] = {">": "GREATER_THAN", "<": "LESS_THAN", "=": "EQUAL_TO"}
_BUDGET_TYPES: Final = {
    "cost": "cost",
    "usage": "usage",
    "ri utilization": "ri_utilization",
    "ri coverage": "ri_coverage",
    "reservation utilization": "ri_utilization",
    "reservation coverage": "ri_coverage",
    "reserved instance utilization": "ri_utilization",
    "reserved instance coverage": "ri_coverage",
    "savings plans utilization": "savings_plans_utilization",
    "savings plans coverage": "savings_plans_coverage",
    "savings plan utilization": "savings_plans_utilization",
    "savings plan coverage": "savings_plans_coverage",
}
_PERIODS: Final[dict[str, BudgetPeriod]] = {
    "day": "daily",
    "month": "monthly",
    "quarter": "quarterly",
    "year": "annual",
}
# English month names whatever the process locale (strptime's %B follows LC_TIME).
_MONTH_NAMES: Final = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTHS: Final = {name: n for n, full in enumerate(_MONTH_NAMES, start=1) for name in (full, full[:3])}
_CENT: Final = Decimal("0.01")


def format_percent(value: Decimal) -> str:
    """``Decimal("90.00")`` -> ``"90"``, ``Decimal("80.50")`` -> ``"80.5"`` (never ``9E+1``)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def is_topic_verified_message(text: str, subject: str | None) -> bool:
    """Recognise the Budgets "SNS Topic Verified!" test notification.

    Only the Subject is attested publicly, so the Subject decides; the Message is checked
    only near its start (its body is unknown) and never when the Message is clearly
    something else: a real Budgets alert or another producer's JSON.
    """
    head = text.lstrip()
    if head.startswith((_HEADER, "{", "[")):
        return False
    needle = TOPIC_VERIFIED.casefold()
    return needle in (subject or "").casefold() or needle in head[:200].casefold()


def looks_like_budget_alert(text: str) -> bool:
    """True for text that starts like every known Budgets alert."""
    return text.lstrip().startswith(_HEADER)


@dataclass(frozen=True, slots=True)
class _Amount:
    value: Decimal
    currency: str | None
    unit: str | None
    percent: bool
    text: str


def _amount(source: str | None) -> _Amount | None:
    if not source:
        return None
    match = _AMOUNT.search(source)
    if match is None:
        return None
    number = match["number"]
    if "," in number and "." in number and number.index(".") < number.index(","):
        number = number.replace(".", "").replace(",", ".")
    elif _THOUSANDS.fullmatch(number):
        number = number.replace(",", "")
    else:
        number = number.replace(",", ".")
    negative = bool(match["sign"] or match["sign2"])
    try:
        value = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        return None
    if negative:
        value = -value
    pre, post = match["pre"], match["post"]
    currency = _SYMBOLS.get(pre or "") or (pre if pre in _CURRENCY_CODES else None)
    unit: str | None = None
    percent = False
    end = match.end("number")
    if post is not None:
        post_currency = _SYMBOLS.get(post) or (post if post in _CURRENCY_CODES else None)
        if post == "%":
            percent, end = True, match.end()
        elif post_currency is not None:
            if currency is None:
                currency, end = post_currency, match.end()
        elif currency is None:
            # Only a bare number has a unit ("100.0 Hrs"); after "$5.00" a word is prose.
            unit, end = post, match.end()
    return _Amount(value, currency, unit, percent, source[match.start() : end].strip())


def parse_budget_alert(text: str) -> BudgetAlert:
    """Parse an AWS Budgets alert; never raises for any ``str``."""
    normal = text.replace("\r\n", "\n")
    lines = _key_value_lines(normal)
    sentence = _SENTENCE.search(normal)

    alert_type = _alert_type(lines.get("alert type")) or _alert_type(sentence["kind"] if sentence else None)
    budget_name = lines.get("budget name") or (sentence["name"].strip() if sentence else None) or None
    budget_type = _budget_type(lines.get("budget type")) or _budget_type(
        sentence["measure"] if sentence else None
    )
    budgeted = _amount(lines.get("budgeted amount"))
    threshold_line = lines.get("alert threshold")
    threshold = _amount(threshold_line)
    if threshold is None and sentence is not None:
        threshold = _amount(sentence["threshold"].rstrip(".,;:"))
    amount = _amount(lines.get(f"{alert_type.lower()} amount")) if alert_type else None
    if amount is None:
        amount = _amount(lines.get("actual amount") or lines.get("forecasted amount"))

    comparison = _comparison(threshold_line, sentence)
    period = _period(normal, sentence)
    notification_date = _date(normal)
    account = _ACCOUNT.search(normal)
    dashboard = _DASHBOARD.search(normal)
    threshold_amount, threshold_percent = _threshold(normal, threshold, budgeted)
    found = (budgeted, threshold, amount)
    currency = next((a.currency for a in found if a is not None and a.currency), None)
    unit = next((a.unit for a in found if a is not None and a.unit), None)
    required = (account, budget_name, budget_type, period, alert_type, *found, notification_date)
    return BudgetAlert(
        raw=text,
        account_id=account["account"] if account else None,
        budget_name=budget_name,
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
        complete=all(part is not None for part in required),
        unit=unit,
        comparison=comparison,
        dashboard_url=dashboard["url"] if dashboard else None,
    )


def _key_value_lines(text: str) -> dict[str, str]:
    """``{"budget name": "team-a", ...}`` from the "Key: value" lines (first of each key wins);
    keys are lower-cased with their inner blanks collapsed. Linear in ``text``."""
    lines: dict[str, str] = {}
    for line in text.split("\n"):
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key = key.strip(" \t")
        if len(key) > _MAX_KEY or _KEY.fullmatch(key) is None:
            continue
        lines.setdefault(" ".join(key.lower().split()), value.strip(" \t"))
    return lines


def _date(text: str) -> date | None:
    match = _HEADER_DATE.search(text)
    if match is None:
        return None
    month = _MONTHS.get(match["month"].lower())
    if month is None:
        return None
    try:
        return date(int(match["year"]), month, int(match["day"]))
    except ValueError:
        return None


def _alert_type(value: str | None) -> AlertType | None:
    upper = (value or "").strip().upper()
    if upper == "ACTUAL":
        return "ACTUAL"
    if upper in ("FORECASTED", "FORECAST"):
        return "FORECASTED"
    return None


def _budget_type(value: str | None) -> str | None:
    return _BUDGET_TYPES.get(" ".join((value or "").lower().split()))


def _comparison(threshold_line: str | None, sentence: re.Match[str] | None) -> Comparison | None:
    sign = (threshold_line or "").lstrip()[:1]
    if sign in _COMPARISON_SIGNS:
        return _COMPARISON_SIGNS[sign]
    return _COMPARISON_WORDS.get(sentence["cmp"].lower()) if sentence else None


def _period(text: str, sentence: re.Match[str] | None) -> BudgetPeriod | None:
    # After the threshold only: the budget name before it may well say "Monthly".
    if sentence is not None:
        start = sentence.end()
        end = text.find("\n", start)
        window = text[start : end if end != -1 else len(text)]
    else:
        window = text
    match = _PERIOD.search(window)
    if match is None:
        return None
    if match["yesterday"]:
        return "daily"
    return _PERIODS[(match["per"] or match["current"]).lower()]


def _normalise_percent(value: Decimal) -> Decimal | None:
    try:
        with localcontext() as context:
            context.prec = 60
            return Decimal(format_percent(value.quantize(_CENT, rounding=ROUND_HALF_UP)))
    except ArithmeticError:  # more digits than the context holds: not a real alert
        return None


def _threshold(
    text: str, threshold: _Amount | None, budgeted: _Amount | None
) -> tuple[Decimal | None, Decimal | None]:
    """(threshold amount, threshold percent): read when the text gives them, else computed."""
    stated = _PERCENT_OF_BUDGET.search(text)
    percent = _normalise_percent(Decimal(stated["pct"])) if stated else None
    if threshold is None:
        return None, percent
    if threshold.percent:
        amount = None
        if budgeted is not None and not budgeted.percent:
            try:
                with localcontext() as context:
                    context.prec = 60
                    amount = (budgeted.value * threshold.value / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
            except ArithmeticError:
                amount = None
        return amount, _normalise_percent(threshold.value)
    if percent is None and budgeted is not None and budgeted.value != 0:
        try:
            with localcontext() as context:
                context.prec = 60
                percent = _normalise_percent(threshold.value / budgeted.value * 100)
        except ArithmeticError:
            percent = None
    return threshold.value, percent
