"""AWS Budgets alerts: every real sample with its exact values, wording variants, and
"never raises" on any text."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sns_subscriber.producers.budgets import (
    BudgetAlert,
    format_percent,
    is_topic_verified_message,
    looks_like_budget_alert,
    parse_budget_alert,
)

from .producer_fixtures import PRODUCERS, SIGNED, message, read

BILLING_URL = "https://console.aws.amazon.com/billing/home#/budgets"
COST_MANAGEMENT_URL = "https://console.aws.amazon.com/costmanagement/home#/budgets"

MONTHLY_2022_09_26: dict[str, Any] = {
    "account_id": "017790921725",
    "budget_name": "Test Budget",
    "budget_type": "cost",
    "period": "monthly",
    "alert_type": "ACTUAL",
    "currency": "USD",
    "budgeted_amount": Decimal("0.20"),
    "threshold_amount": Decimal("0.16"),
    "threshold_percent": Decimal("80"),
    "amount": Decimal("0.59"),
    "notification_date": date(2022, 9, 26),
    "budgeted_amount_text": "$0.20",
    "threshold_amount_text": "$0.16",
    "amount_text": "$0.59",
    "complete": True,
    "unit": None,
    "comparison": "GREATER_THAN",
    "dashboard_url": BILLING_URL,
}
DAILY_2023_03_05: dict[str, Any] = {
    "account_id": "265627204426",
    "budget_name": "killswitch",
    "budget_type": "cost",
    "period": "daily",
    "alert_type": "ACTUAL",
    "currency": "USD",
    "budgeted_amount": Decimal("5.00"),
    "threshold_amount": Decimal("0.75"),
    "threshold_percent": Decimal("15"),
    "amount": Decimal("1.70"),
    "notification_date": date(2023, 3, 5),
    "budgeted_amount_text": "$5.00",
    "threshold_amount_text": "$0.75",
    "amount_text": "$1.70",
    "complete": True,
    "unit": None,
    "comparison": "GREATER_THAN",
    "dashboard_url": BILLING_URL,
}
DAILY_2023_03_04: dict[str, Any] = {
    "account_id": "265627204426",
    "budget_name": "killswitch",
    "budget_type": "cost",
    "period": "daily",
    "alert_type": "ACTUAL",
    "currency": "USD",
    "budgeted_amount": Decimal("70.00"),
    "threshold_amount": Decimal("0.00"),
    "threshold_percent": Decimal("0"),
    "amount": Decimal("2.15"),
    "notification_date": date(2023, 3, 4),
    "budgeted_amount_text": "$70.00",
    "threshold_amount_text": "$0.00",
    "amount_text": "$2.15",
    "complete": True,
    "unit": None,
    "comparison": "GREATER_THAN",
    "dashboard_url": BILLING_URL,
}
FORECASTED_2026_01_28: dict[str, Any] = {
    "account_id": "391613010373",
    "budget_name": "test",
    "budget_type": "cost",
    "period": "monthly",
    "alert_type": "FORECASTED",
    "currency": "USD",
    "budgeted_amount": Decimal("0.02"),
    "threshold_amount": Decimal("0.00"),
    "threshold_percent": Decimal("0"),
    "amount": Decimal("0.95"),
    "notification_date": date(2026, 1, 28),
    "budgeted_amount_text": "$0.02",
    "threshold_amount_text": "$0.00",
    "amount_text": "$0.95",
    "complete": True,
    "unit": None,
    "comparison": "GREATER_THAN",
    "dashboard_url": COST_MANAGEMENT_URL,
}
MONTHLY_2026_02_17: dict[str, Any] = {
    "account_id": "084274240787",
    "budget_name": "MonthlyBudget-eu-west-1-1770978414540-1X3bcZUWhcMp",
    "budget_type": "cost",
    "period": "monthly",
    "alert_type": "ACTUAL",
    "currency": "USD",
    "budgeted_amount": Decimal("50.00"),
    "threshold_amount": Decimal("0.50"),
    "threshold_percent": Decimal("1"),
    "amount": Decimal("18.86"),
    "notification_date": date(2026, 2, 17),
    "budgeted_amount_text": "$50.00",
    "threshold_amount_text": "$0.50",
    "amount_text": "$18.86",
    "complete": True,
    "unit": None,
    "comparison": "GREATER_THAN",
    "dashboard_url": COST_MANAGEMENT_URL,
}


REAL_SAMPLES = [
    pytest.param(lambda: read("actual-cost-monthly-2022-09-26.txt"), MONTHLY_2022_09_26, id="monthly-txt"),
    pytest.param(
        lambda: message(PRODUCERS / "actual-cost-monthly-2022-09-26.envelope.json"),
        MONTHLY_2022_09_26,
        id="monthly-envelope",
    ),
    pytest.param(
        lambda: message(SIGNED / "budget-actual-monthly-2022-09-26-ca-central-1.json"),
        MONTHLY_2022_09_26,
        id="monthly-signed",
    ),
    pytest.param(lambda: read("actual-cost-daily-2023-03-05.txt"), DAILY_2023_03_05, id="daily-txt"),
    pytest.param(
        lambda: message(PRODUCERS / "actual-cost-daily-2023-03-05.lambda-record.json"),
        DAILY_2023_03_05,
        id="daily-lambda-record",
    ),
    pytest.param(
        lambda: message(PRODUCERS / "actual-cost-daily-2023-03-05.lambda-event.json"),
        DAILY_2023_03_05,
        id="daily-lambda-event",
    ),
    pytest.param(
        lambda: message(SIGNED / "budget-actual-daily-2023-03-05-us-east-1.lambda-record.json"),
        DAILY_2023_03_05,
        id="daily-signed",
    ),
    pytest.param(lambda: read("actual-cost-daily-2023-03-04.from-log.txt"), DAILY_2023_03_04, id="daily-log"),
    pytest.param(
        lambda: read("forecasted-cost-monthly-2026-01-28.txt"), FORECASTED_2026_01_28, id="forecast-txt"
    ),
    pytest.param(
        lambda: message(PRODUCERS / "forecasted-cost-monthly-2026-01-28.envelope.json"),
        FORECASTED_2026_01_28,
        id="forecast-envelope",
    ),
    pytest.param(
        lambda: message(SIGNED / "budget-forecasted-monthly-2026-01-28-eu-west-1.json"),
        FORECASTED_2026_01_28,
        id="forecast-signed",
    ),
    pytest.param(
        lambda: read("actual-cost-monthly-2026-02-17.raw-delivery.txt"),
        MONTHLY_2026_02_17,
        id="raw-delivery",
    ),
]


@pytest.mark.parametrize(("load", "expected"), REAL_SAMPLES)
def test_real_alert(load: Any, expected: dict[str, Any]) -> None:
    text = load()
    alert = parse_budget_alert(text)
    assert alert == BudgetAlert(raw=text, **expected)
    # Decimal equality ignores trailing zeros: the display form must be normalised too.
    assert str(alert.threshold_percent) == str(expected["threshold_percent"])


def test_threshold_percent_text_of_a_real_alert() -> None:
    alert = parse_budget_alert(read("actual-cost-monthly-2022-09-26.txt"))
    assert alert.threshold_percent_text == "80%"


def alert_text(
    *,
    kind: str = "ACTUAL",
    measure: str = "Cost",
    name: str = "team-a",
    threshold: str = "$80.00",
    span: str = "for the current month",
    lead: str = "The",
    amount: str = "$95.12",
    budgeted: str = "$100.00",
    threshold_line: str = "> $80.00",
    budget_type: str = "Cost",
    header_date: str = "April 02, 2024",
) -> str:
    """The real wording (see the fixtures) with chosen values."""
    return (
        f"AWS Budget Notification {header_date}\n"
        "AWS Account 123456789012\n\n"
        "Dear AWS Customer,\n\n"
        f"You requested that we alert you when the {kind} {measure} associated with your {name} budget is "
        f"greater than {threshold} {span}. {lead} {kind} {measure} associated with this budget is {amount}. "
        "You can find additional details below and by accessing the AWS Budgets dashboard [1].\n\n"
        f"Budget Name: {name}\n"
        f"Budget Type: {budget_type}\n"
        f"Budgeted Amount: {budgeted}\n"
        f"Alert Type: {kind}\n"
        f"Alert Threshold: {threshold_line}\n"
        f"{kind} Amount: {amount}\n\n"
        f"[1] {BILLING_URL}\n"
    )


BASE: dict[str, Any] = {
    "account_id": "123456789012",
    "budget_name": "team-a",
    "budget_type": "cost",
    "period": "monthly",
    "alert_type": "ACTUAL",
    "currency": "USD",
    "budgeted_amount": Decimal("100.00"),
    "threshold_amount": Decimal("80.00"),
    "threshold_percent": Decimal("80"),
    "amount": Decimal("95.12"),
    "notification_date": date(2024, 4, 2),
    "budgeted_amount_text": "$100.00",
    "threshold_amount_text": "$80.00",
    "amount_text": "$95.12",
    "complete": True,
    "unit": None,
    "comparison": "GREATER_THAN",
    "dashboard_url": BILLING_URL,
}

VARIANTS = [
    pytest.param({}, {}, id="monthly"),
    pytest.param(
        {"span": "per day", "lead": "Yesterday, the", "threshold": "$5.00", "threshold_line": "> $5.00"},
        {
            "period": "daily",
            "threshold_amount": Decimal("5.00"),
            "threshold_amount_text": "$5.00",
            "threshold_percent": Decimal("5"),
        },
        id="daily",
    ),
    pytest.param({"kind": "FORECASTED"}, {"alert_type": "FORECASTED"}, id="forecasted"),
    pytest.param(
        {
            "span": "for the current quarter",
            "threshold": "$2,400.00",
            "threshold_line": "> $2,400.00",
            "budgeted": "$3,000.00",
            "amount": "$2,512.34",
        },
        {
            "period": "quarterly",
            "budgeted_amount": Decimal("3000.00"),
            "threshold_amount": Decimal("2400.00"),
            "amount": Decimal("2512.34"),
            "budgeted_amount_text": "$3,000.00",
            "threshold_amount_text": "$2,400.00",
            "amount_text": "$2,512.34",
        },
        id="quarterly-thousands",
    ),
    pytest.param(
        {
            "span": "for the current year",
            "kind": "FORECASTED",
            "threshold": "$1,080,000.00",
            "threshold_line": "> $1,080,000.00",
            "budgeted": "$1,200,000.00",
            "amount": "$1,234,567.89",
        },
        {
            "period": "annual",
            "alert_type": "FORECASTED",
            "budgeted_amount": Decimal("1200000.00"),
            "threshold_amount": Decimal("1080000.00"),
            "threshold_percent": Decimal("90"),
            "amount": Decimal("1234567.89"),
            "budgeted_amount_text": "$1,200,000.00",
            "threshold_amount_text": "$1,080,000.00",
            "amount_text": "$1,234,567.89",
        },
        id="annual-millions",
    ),
    pytest.param(
        {"threshold": "$80.00 (80.0% of your budget)", "budgeted": "$120.00"},
        # The stated percentage wins over 80/120 = 66.67.
        {
            "budgeted_amount": Decimal("120.00"),
            "budgeted_amount_text": "$120.00",
            "threshold_percent": Decimal("80"),
        },
        id="percent-of-budget-stated",
    ),
    pytest.param(
        {"threshold_line": "> $80.00 (80.5% of your budget)"},
        {"threshold_percent": Decimal("80.5")},
        id="percent-of-budget-in-line",
    ),
    pytest.param(
        {"threshold": "80%", "threshold_line": "> 80%", "budgeted": "$1,234.56"},
        {
            "budgeted_amount": Decimal("1234.56"),
            "budgeted_amount_text": "$1,234.56",
            "threshold_amount": Decimal("987.65"),
            "threshold_amount_text": None,
            "threshold_percent": Decimal("80"),
        },
        id="percentage-threshold",
    ),
    pytest.param(
        {"threshold": "80%", "threshold_line": "", "budgeted": "$50.00"},
        {
            "budgeted_amount": Decimal("50.00"),
            "budgeted_amount_text": "$50.00",
            "threshold_amount": Decimal("40.00"),
            "threshold_amount_text": None,
            "threshold_percent": Decimal("80"),
        },
        id="percentage-threshold-sentence-only",
    ),
    pytest.param(
        {"threshold": "$33.33", "threshold_line": "> $33.33"},
        {
            "threshold_amount": Decimal("33.33"),
            "threshold_amount_text": "$33.33",
            "threshold_percent": Decimal("33.33"),
        },
        id="computed-percent-two-places",
    ),
    pytest.param(
        {"threshold": "$2.00", "threshold_line": "> $2.00", "budgeted": "$3.00"},
        {
            "budgeted_amount": Decimal("3.00"),
            "budgeted_amount_text": "$3.00",
            "threshold_amount": Decimal("2.00"),
            "threshold_amount_text": "$2.00",
            "threshold_percent": Decimal("66.67"),
        },
        id="computed-percent-rounded",
    ),
    pytest.param(
        {
            "threshold": "€900.00",
            "threshold_line": "> €900.00",
            "budgeted": "€1,000.00",
            "amount": "€1.234,56",
        },
        {
            "currency": "EUR",
            "budgeted_amount": Decimal("1000.00"),
            "threshold_amount": Decimal("900.00"),
            "threshold_percent": Decimal("90"),
            "amount": Decimal("1234.56"),
            "budgeted_amount_text": "€1,000.00",
            "threshold_amount_text": "€900.00",
            "amount_text": "€1.234,56",
        },
        id="euro",
    ),
    pytest.param(
        {
            "threshold": "80,00 EUR",
            "threshold_line": "> 80,00 EUR",
            "budgeted": "1.000,00 EUR",
            "amount": "95,12 EUR",
        },
        {
            "currency": "EUR",
            "budgeted_amount": Decimal("1000.00"),
            "threshold_amount": Decimal("80.00"),
            "threshold_percent": Decimal("8"),
            "amount": Decimal("95.12"),
            "budgeted_amount_text": "1.000,00 EUR",
            "threshold_amount_text": "80,00 EUR",
            "amount_text": "95,12 EUR",
        },
        id="decimal-comma-code-after",
    ),
    pytest.param(
        {
            "threshold": "GBP 80.00",
            "threshold_line": "> GBP 80.00",
            "budgeted": "GBP 100.00",
            "amount": "£95.12",
        },
        {
            "currency": "GBP",
            "budgeted_amount_text": "GBP 100.00",
            "threshold_amount_text": "GBP 80.00",
            "amount_text": "£95.12",
        },
        id="code-before",
    ),
    pytest.param(
        {
            "measure": "Usage",
            "budget_type": "Usage",
            "threshold": "80.00",
            "threshold_line": "> 80.00 Hrs",
            "budgeted": "100.00 Hrs",
            "amount": "85.50 Hrs",
        },
        {
            "budget_type": "usage",
            "currency": None,
            "unit": "Hrs",
            "amount": Decimal("85.50"),
            "budgeted_amount_text": "100.00 Hrs",
            "threshold_amount_text": "80.00 Hrs",
            "amount_text": "85.50 Hrs",
        },
        id="usage-hours",
    ),
    pytest.param(
        {
            "measure": "Usage",
            "budget_type": "Usage",
            "threshold": "1,024",
            "threshold_line": "> 1,024 GB",
            "budgeted": "2,048 GB",
            "amount": "1,500.25 GB",
        },
        {
            "budget_type": "usage",
            "currency": None,
            "unit": "GB",
            "budgeted_amount": Decimal("2048"),
            "threshold_amount": Decimal("1024"),
            "threshold_percent": Decimal("50"),
            "amount": Decimal("1500.25"),
            "budgeted_amount_text": "2,048 GB",
            "threshold_amount_text": "1,024 GB",
            "amount_text": "1,500.25 GB",
        },
        id="usage-gigabytes",
    ),
    pytest.param(
        {"budget_type": "RI Utilization", "measure": "RI Utilization"},
        {"budget_type": "ri_utilization"},
        id="ri-utilization",
    ),
    pytest.param(
        {"budget_type": "Savings Plans Coverage", "measure": "Savings Plans Coverage"},
        {"budget_type": "savings_plans_coverage"},
        id="savings-plans-coverage",
    ),
    pytest.param(
        {"threshold_line": "< $80.00"},
        {"comparison": "LESS_THAN"},
        id="less-than",
    ),
    pytest.param(
        {"amount": "-$1.50"},
        {"amount": Decimal("-1.50"), "amount_text": "-$1.50"},
        id="negative-amount",
    ),
    pytest.param(
        {"name": "Monthly spend: prod"},
        # A "Monthly" name must not decide the period; a colon in the name must survive.
        {"budget_name": "Monthly spend: prod"},
        id="name-with-colon",
    ),
    pytest.param({"header_date": "Sep 7, 2024"}, {"notification_date": date(2024, 9, 7)}, id="short-month"),
    pytest.param(
        {"budgeted": "$0.00", "threshold": "$0.00", "threshold_line": "> $0.00"},
        {
            "budgeted_amount": Decimal("0.00"),
            "budgeted_amount_text": "$0.00",
            "threshold_amount": Decimal("0.00"),
            "threshold_amount_text": "$0.00",
            "threshold_percent": None,
        },
        id="zero-budget",
    ),
]


@pytest.mark.parametrize(("options", "changes"), VARIANTS)
def test_wording_variants(options: dict[str, str], changes: dict[str, Any]) -> None:
    text = alert_text(**options)
    assert parse_budget_alert(text) == BudgetAlert(raw=text, **{**BASE, **changes})


def test_crlf_line_endings() -> None:
    text = read("actual-cost-monthly-2022-09-26.txt").replace("\n", "\r\n")
    assert parse_budget_alert(text) == BudgetAlert(raw=text, **MONTHLY_2022_09_26)


def test_truncated_alert_is_partial() -> None:
    full = read("actual-cost-monthly-2022-09-26.txt")
    text = full[: full.index("Budgeted Amount")]
    assert parse_budget_alert(text) == BudgetAlert(
        raw=text,
        account_id="017790921725",
        budget_name="Test Budget",
        budget_type="cost",
        period="monthly",
        alert_type="ACTUAL",
        currency="USD",
        threshold_amount=Decimal("0.16"),
        notification_date=date(2022, 9, 26),
        threshold_amount_text="$0.16",
        comparison="GREATER_THAN",
        complete=False,
    )


def test_alert_cut_after_the_header() -> None:
    text = "AWS Budget Notification September 26, 2022\nAWS Acc"
    assert parse_budget_alert(text) == BudgetAlert(raw=text, notification_date=date(2022, 9, 26))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n",
        "hello: world\n$$$ 12\n",
        "Budget Name:\nAlert Type: MAYBE\nBudgeted Amount: lots\n",
        "AWS Budget Notification Smarch 40, 2024\nAWS Account 12345\n",
        '{"AlarmName": "x"}',
        "alert you when the ACTUAL Cost associated with your " * 2000,
        "Budgeted Amount: $" + "9" * 5000 + "\nAlert Threshold: > $" + "9" * 5000 + "\n",
    ],
    ids=["empty", "blank", "garbage", "bad-values", "bad-header", "json", "hostile-repeats", "huge-numbers"],
)
def test_unknown_wording_gives_a_partial_model(text: str) -> None:
    alert = parse_budget_alert(text)
    assert alert.raw == text
    assert alert.complete is False
    assert alert.budget_name is None
    assert alert.alert_type is None


def test_huge_amounts_do_not_raise() -> None:
    nines = "9" * 100
    text = alert_text(threshold=f"${nines}", threshold_line=f"> ${nines}", budgeted="$1.00")
    alert = parse_budget_alert(text)
    assert alert.threshold_amount == Decimal(nines)
    # 10^102 does not fit the precision used for percentages: unknown, not an exception.
    assert alert.threshold_percent is None


def test_empty_alert_has_no_values() -> None:
    assert parse_budget_alert("") == BudgetAlert(raw="")


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_never_raises_on_any_text(text: str) -> None:
    alert = parse_budget_alert(text)
    assert alert.raw == text


FRAGMENTS = [
    "AWS Budget Notification ",
    "March 05, 2023",
    "\nAWS Account 265627204426\n",
    "alert you when the ",
    "ACTUAL ",
    "FORECASTED ",
    "Cost associated with your ",
    " budget is greater than ",
    "$0.75",
    " per day. Yesterday",
    " for the current month.",
    "\nBudget Name: ",
    "\nBudget Type: ",
    "\nBudgeted Amount: ",
    "\nAlert Type: ",
    "\nAlert Threshold: > ",
    "\nACTUAL Amount: ",
    "(80.0% of your budget)",
    "1,234.56",
    "1.234,56",
    "€",
    "EUR",
    "%",
    " Hrs",
    "\n[1] https://x\n",
    "-",
    ":",
    "\r\n",
]


@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=40).map("".join))
@settings(max_examples=500, deadline=None)
def test_never_raises_on_alert_like_text(text: str) -> None:
    alert = parse_budget_alert(text)
    assert alert.raw == text
    if alert.complete:
        assert None not in (alert.account_id, alert.budget_name, alert.period, alert.amount)


@pytest.mark.parametrize(
    ("text", "subject", "expected"),
    [
        ("SNS Topic Verified!", "SNS Topic Verified!", True),
        ("Some body AWS may send", "SNS Topic Verified!", True),
        ("SNS Topic Verified!", None, True),
        ("sns topic verified", None, True),
        ("\n  SNS Topic Verified!\n", None, True),
        ("hello", None, False),
        ("hello", "AWS Budgets: x has exceeded your alert threshold", False),
        ("", None, False),
        # A real alert for a budget with an unlucky name is still an alert.
        (
            alert_text(name="SNS Topic Verified"),
            "AWS Budgets: SNS Topic Verified has exceeded your alert threshold",
            False,
        ),
        # Another producer's JSON is never the Budgets test message.
        ('{"AlarmName": "SNS Topic Verified", "NewStateValue": "OK"}', 'OK: "SNS Topic Verified"', False),
        ("x" * 300 + " SNS Topic Verified", None, False),
    ],
)
def test_topic_verified(text: str, subject: str | None, expected: bool) -> None:
    assert is_topic_verified_message(text, subject) is expected


def test_real_alerts_are_not_the_test_message() -> None:
    for path in sorted(PRODUCERS.glob("*cost-*.txt")):
        assert not is_topic_verified_message(path.read_text(encoding="utf-8"), None)


def test_looks_like_budget_alert() -> None:
    assert looks_like_budget_alert(read("actual-cost-daily-2023-03-04.from-log.txt"))
    assert looks_like_budget_alert("\n AWS Budget Notification")
    assert not looks_like_budget_alert("Dear AWS Customer")


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("90.00"), "90"), (Decimal("80.50"), "80.5"), (Decimal("100"), "100"), (Decimal("0.00"), "0")],
)
def test_format_percent(value: Decimal, text: str) -> None:
    assert format_percent(value) == text


def test_model_is_frozen() -> None:
    alert = parse_budget_alert(read("actual-cost-monthly-2022-09-26.txt"))
    with pytest.raises(AttributeError):
        alert.budget_name = "other"  # type: ignore[misc]
    assert replace(alert, budget_name="other").budget_name == "other"
    assert BudgetAlert.producer == "budgets"
