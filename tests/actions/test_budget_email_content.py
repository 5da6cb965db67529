"""What the budget e-mail says: every field of e-mails rendered from real AWS Budgets alerts,
the plain-text and HTML parts telling the same story, and the HTML part looked at in Chromium."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sns_subscriber.actions import BudgetEmailAction, BudgetOwner, ConfigOwnerResolver, Recipient
from sns_subscriber.actions.budget_facts import budget_console_url, budget_facts, period_progress
from sns_subscriber.producers.budgets import BudgetAlert, parse_budget_alert

from ..support.headless import chromium_page
from .conftest import RecordingBackend, make_alert, make_delivery

PRODUCERS = Path(__file__).parent.parent / "data" / "producers"
CONSOLE = "https://console.aws.amazon.com/costmanagement/home#/budgets/details?name="


def render(alert: BudgetAlert, recipient: Recipient | None = None) -> EmailMessage:
    backend = RecordingBackend()
    owner = recipient or Recipient("alice@example.com", "Alice")
    BudgetEmailAction(backend, lambda _: [owner], sender="alerts@example.com")(make_delivery(alert))
    [message] = backend.sent
    return message


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body(preferencelist=(kind,))
    assert body is not None
    return str(body.get_content())


class _Text(HTMLParser):
    """The text a reader sees, one line per block element; link targets kept."""

    BLOCKS = frozenset({"p", "tr", "br", "pre", "td", "title", "table"})

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("title", "style"):
            self._skip += 1
        if tag in self.BLOCKS:
            self.chunks.append("\n")
        if tag == "a":
            self.links.extend(value or "" for name, value in attrs if name == "href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "style"):
            self._skip -= 1
        if tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:  # a line break in HTML source is a space; blocks make lines
            self.chunks.append(data.replace("\n", " "))

    def lines(self) -> list[str]:
        return normal("".join(self.chunks).split("\n"))


def normal(lines: list[str]) -> list[str]:
    """Non-empty lines, spaces collapsed, a line ending in ":" joined with the next: layout, not
    content (an HTML th and its td, a label and its link)."""
    out: list[str] = []
    for line in (" ".join(line.split()) for line in lines):
        if not line:
            continue
        if out and out[-1].endswith(":"):
            out[-1] += " " + line
        else:
            out.append(line)
    return out


def html_lines(message: EmailMessage) -> tuple[list[str], list[str]]:
    parser = _Text()
    parser.feed(part(message, "html"))
    return parser.lines(), parser.links


def text_lines(message: EmailMessage) -> list[str]:
    return normal(part(message, "plain").splitlines())


# (fixture, subject, lead sentence, details, console link)
REAL_ALERTS = [
    (
        "actual-cost-monthly-2026-02-17.raw-delivery.txt",
        "AWS budget MonthlyBudget-eu-west-1-1770978414540-1X3bcZUWhcMp: actual $18.86 passed 1% of $50.00",
        'Your AWS budget "MonthlyBudget-eu-west-1-1770978414540-1X3bcZUWhcMp" (AWS account 084274240787) '
        "has passed 1% of $50.00: its actual cost for the current month is $18.86.",
        [
            "Budget: MonthlyBudget-eu-west-1-1770978414540-1X3bcZUWhcMp",
            "Alert type: ACTUAL",
            "Alert threshold: 1% of $50.00 ($0.50)",
            "Budgeted amount: $50.00",
            "Actual amount: $18.86",
            "Budget type: Cost",
            "Period: Monthly: February 2026, day 17 of 28 (61% through)",
            "AWS account: 084274240787",
            "Notification date: February 17, 2026",
        ],
        CONSOLE + "MonthlyBudget-eu-west-1-1770978414540-1X3bcZUWhcMp",
    ),
    (
        "forecasted-cost-monthly-2026-01-28.txt",
        "AWS budget test: is forecast to pass $0.00 (forecast $0.95)",
        'Your AWS budget "test" (AWS account 391613010373) is forecast to pass $0.00: '
        "its cost for the current month is forecast to reach $0.95.",
        [
            "Budget: test",
            "Alert type: FORECASTED",
            "Alert threshold: $0.00",
            "Budgeted amount: $0.02",
            "Forecasted amount: $0.95",
            "Budget type: Cost",
            "Period: Monthly: January 2026, day 28 of 31 (90% through)",
            "AWS account: 391613010373",
            "Notification date: January 28, 2026",
        ],
        CONSOLE + "test",
    ),
    (
        "actual-cost-monthly-2022-09-26.txt",
        "AWS budget Test Budget: actual $0.59 passed 80% of $0.20",
        'Your AWS budget "Test Budget" (AWS account 017790921725) has passed 80% of $0.20: '
        "its actual cost for the current month is $0.59.",
        [
            "Budget: Test Budget",
            "Alert type: ACTUAL",
            "Alert threshold: 80% of $0.20 ($0.16)",
            "Budgeted amount: $0.20",
            "Actual amount: $0.59",
            "Budget type: Cost",
            "Period: Monthly: September 2022, day 26 of 30 (87% through)",
            "AWS account: 017790921725",
            "Notification date: September 26, 2022",
        ],
        CONSOLE + "Test%20Budget",
    ),
    (
        "actual-cost-daily-2023-03-05.txt",
        "AWS budget killswitch: actual $1.70 passed 15% of $5.00",
        'Your AWS budget "killswitch" (AWS account 265627204426) has passed 15% of $5.00: '
        "its actual cost for the previous day is $1.70.",
        [
            "Budget: killswitch",
            "Alert type: ACTUAL",
            "Alert threshold: 15% of $5.00 ($0.75)",
            "Budgeted amount: $5.00",
            "Actual amount: $1.70",
            "Budget type: Cost",
            "Period: Daily: March 4, 2023 (the whole day)",
            "AWS account: 265627204426",
            "Notification date: March 5, 2023",
        ],
        CONSOLE + "killswitch",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "subject", "lead", "details", "link"), REAL_ALERTS, ids=[r[0] for r in REAL_ALERTS]
)
def test_real_alert_renders_every_field(
    fixture: str, subject: str, lead: str, details: list[str], link: str
) -> None:
    alert = parse_budget_alert((PRODUCERS / fixture).read_text(encoding="utf-8"))
    message = render(alert)
    assert message["Subject"].strip() == subject
    lines = text_lines(message)
    forecast = ["This is a forecast: the spending has not happened yet, so there is still time to act."]
    expected = [
        "Hello Alice,",
        lead,
        *(forecast if alert.alert_type == "FORECASTED" else []),
        *details,
        f"Open the budget in the AWS console (AWS account {alert.account_id}): {link}",
        "--",
        "This e-mail was sent automatically by sns-subscriber for AWS Budgets",
        "(SNS message 7b1c9d3e-0000-5000-8000-000000000001).",
    ]
    assert lines == expected
    html, links = html_lines(message)
    assert html == [subject, *expected[:-3], expected[-2] + " " + expected[-1]]
    assert links == [link]


def _parity_cases() -> list[tuple[str, BudgetAlert, Recipient]]:
    alice = Recipient("alice@example.com", "Alice")
    cases = [
        (path.name, parse_budget_alert(path.read_text(encoding="utf-8")), alice)
        for path in sorted(PRODUCERS.glob("*-cost-*.txt"))
    ]
    reason = "You receive this e-mail as a fallback recipient: no owner matched budget x."
    cases += [
        (
            "partial",
            BudgetAlert(raw="AWS Budget Notification\nunheard-of wording\n", amount_text="$3"),
            alice,
        ),
        ("nothing-known", BudgetAlert(raw="x"), Recipient("ops@example.com")),
        ("fallback", make_alert(), Recipient("finance@example.com", "Finance", reason)),
    ]
    return cases


@pytest.mark.parametrize(
    ("name", "alert", "recipient"), _parity_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_plain_text_and_html_parts_say_the_same(name: str, alert: BudgetAlert, recipient: Recipient) -> None:
    message = render(alert, recipient)
    text = text_lines(message)
    html, _ = html_lines(message)
    # The HTML part shows the headline first and has no "-- " signature separator; otherwise
    # each line of the plain text is a line of the HTML, in order.
    assert html[0] == message["Subject"].strip()
    assert " ".join(html[1:]) == " ".join(line for line in text if line != "--")
    assert len(text) > 3


def test_fallback_recipient_is_told_why_in_both_parts() -> None:
    resolver = ConfigOwnerResolver(
        [BudgetOwner(budget="team-a-*", email="alice@example.com")],
        fallback=[Recipient("finance@example.com")],
    )
    backend = RecordingBackend()
    BudgetEmailAction(backend, resolver, sender="alerts@example.com")(
        make_delivery(make_alert(budget_name="orphan-budget"))
    )
    [message] = backend.sent
    why = 'You receive this e-mail as a fallback recipient: no owner matched budget "orphan-budget"'
    assert why in part(message, "plain")
    assert why.replace('"', "&#34;") in part(message, "html")


@pytest.mark.parametrize("alert_type", ["FORECASTED"])
def test_a_forecast_never_says_exceeded(alert_type: str) -> None:
    for comparison in ("GREATER_THAN", "LESS_THAN", "EQUAL_TO", None):
        message = render(make_alert(alert_type=alert_type, comparison=comparison))
        for text in (message["Subject"], part(message, "plain"), part(message, "html")):
            assert "exceed" not in text.lower()
            assert "is forecast to" in text


@pytest.mark.parametrize(
    ("comparison", "subject"),
    [
        ("GREATER_THAN", "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"),
        ("LESS_THAN", "AWS budget team-a-prod: actual $95.12 fell below 90% of $100.00"),
        ("EQUAL_TO", "AWS budget team-a-prod: actual $95.12 reached 90% of $100.00"),
    ],
)
def test_subject_follows_the_comparison(comparison: str, subject: str) -> None:
    assert render(make_alert(comparison=comparison))["Subject"].strip() == subject


def test_rounded_percentage_keeps_the_threshold_amount() -> None:
    exact = make_alert(
        threshold_amount=Decimal("33"), threshold_amount_text="$33.00", threshold_percent=Decimal("33")
    )
    assert budget_facts(exact).headline == "AWS budget team-a-prod: actual $95.12 passed 33% of $100.00"
    rounded = make_alert(
        budgeted_amount=Decimal("30"), budgeted_amount_text="$30.00",
        threshold_amount=Decimal("1"), threshold_amount_text="$1.00", threshold_percent=Decimal("3.3"),
    )  # fmt: skip
    assert budget_facts(rounded).threshold == "$1.00 (3.3% of $30.00)"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("team-a-prod", CONSOLE + "team-a-prod"),
        ("Team A & B/prod?x=1#y", CONSOLE + "Team%20A%20%26%20B%2Fprod%3Fx%3D1%23y"),
        ('"><script>alert(1)</script>', CONSOLE + "%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
        ("has:colon", None),  # AWS forbids ":" and "\" in budget names: not a real budget
        ("back\\slash", None),
        ("x" * 101, None),
        ("line\nbreak", None),
        (None, None),
    ],
)
def test_console_link_cannot_be_bent_by_the_budget_name(name: str | None, url: str | None) -> None:
    """A hostile budget name cannot add query parameters, a fragment or markup to the link."""
    assert budget_console_url(name) == url


@pytest.mark.parametrize(
    ("period", "on", "text"),
    [
        ("monthly", date(2026, 11, 28), "November 2026, day 28 of 30 (93% through)"),
        ("monthly", date(2024, 2, 29), "February 2024, day 29 of 29 (100% through)"),
        ("quarterly", date(2026, 11, 28), "Q4 2026, day 59 of 92 (64% through)"),
        ("quarterly", date(2026, 1, 1), "Q1 2026, day 1 of 90 (1% through)"),
        ("annual", date(2024, 12, 31), "2024, day 366 of 366 (100% through)"),
        ("annual", date(2026, 7, 2), "2026, day 183 of 365 (50% through)"),
        ("daily", date(2026, 3, 1), "February 28, 2026 (the whole day)"),
    ],
)
def test_how_far_into_the_period(period: str, on: date, text: str) -> None:
    progress = period_progress(period, on)
    assert progress is not None
    assert progress.text == text


def test_unknown_period_or_date_says_nothing() -> None:
    assert period_progress(None, date(2026, 1, 1)) is None
    assert period_progress("monthly", None) is None
    message = render(make_alert(notification_date=None))
    assert "Period: Monthly (for the current month)" in text_lines(message)


def test_html_email_looks_right_in_chromium(tmp_path: Path) -> None:
    """Look at the HTML part as a reader would: rendered by Chromium at phone and desktop width."""
    alert = parse_budget_alert((PRODUCERS / "forecasted-cost-monthly-2026-01-28.txt").read_text("utf-8"))
    message = render(alert, Recipient("finance@example.com", "Finance", "You receive this as a fallback."))
    html = part(message, "html")
    shots = Path(os.environ.get("SNS_SUBSCRIBER_SCREENSHOTS", tmp_path))
    for width in (375, 800):
        with chromium_page(width=width, height=900) as page:
            page.set_content(html, wait_until="load")
            seen = page.inner_text("body")
            for fact in (
                "AWS budget test: is forecast to pass $0.00 (forecast $0.95)",
                "Hello Finance,",
                "Forecasted amount:",
                "$0.95",
                "January 2026, day 28 of 31 (90% through)",
                "391613010373",
                "You receive this as a fallback.",
            ):
                assert fact in seen, fact
            # Nothing wider than the screen: a phone reader never scrolls sideways.
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{overflow}px wider than a {width}px screen"
            link = page.locator("a")
            assert link.get_attribute("href") == CONSOLE + "test"
            box = link.bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0  # visible
            headline = page.locator("td").first
            assert headline.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(180, 83, 9)"
            path = shots / f"budget-email-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
