"""Templates: built-in defaults, user overrides, escaping rules, and mistakes caught early."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sns_subscriber.actions import BudgetEmailAction, BudgetOwner, ConfigOwnerResolver, Recipient, Templates
from sns_subscriber.exceptions import ConfigurationError

from .conftest import ALERT, RecordingBackend, make_alert, make_delivery

OWNERS = ConfigOwnerResolver([BudgetOwner(budget="*", email="alice@example.com", name="Alice")])


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


def send_one(templates: Templates | None = None) -> EmailMessage:
    backend = RecordingBackend()
    BudgetEmailAction(backend, OWNERS, sender="alerts@example.com", templates=templates)(make_delivery())
    [message] = backend.sent
    return message


def test_user_text_template_wins_and_other_parts_stay_builtin(tmp_path: Path) -> None:
    (tmp_path / "budget_alert.txt.j2").write_text(
        "Dear {{ name }}: {{ budget_name }} is at {{ amount }} ({{ threshold_percent }}).\n"
    )
    message = send_one(Templates(tmp_path))
    assert body(message, "plain") == "Dear Alice: team-a-prod is at $95.12 (90%).\n"
    assert "<table" in body(message, "html")
    assert message["Subject"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"


def test_user_subject_template_file(tmp_path: Path) -> None:
    (tmp_path / "budget_alert.subject.j2").write_text("Budget {{ budget_name }}: {{ alert_type }}\n")
    assert send_one(Templates(tmp_path))["Subject"] == "Budget team-a-prod: ACTUAL"


def test_html_templates_escape_and_text_templates_do_not(tmp_path: Path) -> None:
    (tmp_path / "x.html.j2").write_text("{{ value }}")
    (tmp_path / "x.txt.j2").write_text("{{ value }}")
    templates = Templates(tmp_path)
    assert templates.render("x.html.j2", {"value": "<b>&</b>"}) == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert templates.render("x.txt.j2", {"value": "<b>&</b>"}) == "<b>&</b>"
    assert templates.from_string("{{ value }}").render(value="<b>") == "<b>"


def test_undefined_variables_are_errors(tmp_path: Path) -> None:
    (tmp_path / "budget_alert.txt.j2").write_text("{{ no_such_variable }}")
    backend = RecordingBackend()
    action = BudgetEmailAction(backend, OWNERS, sender="alerts@example.com", templates=Templates(tmp_path))
    with pytest.raises(jinja2.UndefinedError):
        action(make_delivery())
    assert backend.sent == []


def test_template_mistakes_fail_at_start(tmp_path: Path) -> None:
    (tmp_path / "budget_alert.html.j2").write_text("{% for %}")
    with pytest.raises(ConfigurationError, match=r"budget_alert\.html\.j2"):
        BudgetEmailAction(
            RecordingBackend(), OWNERS, sender="alerts@example.com", templates=Templates(tmp_path)
        )
    with pytest.raises(ConfigurationError, match="does not exist"):
        Templates(tmp_path / "missing")
    with pytest.raises(ConfigurationError, match=r"nothing\.txt\.j2"):
        Templates().get("nothing.txt.j2")


def test_builtin_templates_are_found_without_a_template_dir() -> None:
    assert "team-a-prod" in body(send_one(), "plain")


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
PERSON: list[str] = [""]
BACKEND = RecordingBackend()
# Built once: compiling the templates for each example would dominate the run time.
ACTION = BudgetEmailAction(
    BACKEND, lambda alert: [Recipient("alice@example.com", PERSON[0])], sender="alerts@example.com"
)
HEADERS = sorted(
    ["From", "To", "Subject", "Date", "Message-ID", "X-SNS-Message-Id", "Auto-Submitted",
     "X-Auto-Response-Suppress", "MIME-Version", "Content-Type"]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=names, person=names, percent_known=st.booleans())
def test_no_name_can_add_a_header_or_a_recipient(budget: str, person: str, percent_known: bool) -> None:
    PERSON[0] = person
    BACKEND.sent.clear()
    alert = make_alert(
        budget_name=budget, threshold_percent=ALERT.threshold_percent if percent_known else None
    )
    ACTION(make_delivery(alert))
    [message] = BACKEND.sent
    parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert sorted(parsed.keys()) == HEADERS
    assert [a.addr_spec for a in parsed["To"].addresses] == ["alice@example.com"]
    # Spaces are ignored: CPython's encoded-word folding may add one between words (display only).
    shown = parsed["To"].addresses[0].display_name.replace(" ", "")
    assert shown == (Recipient("a@example.com", person).name or "").replace(" ", "")
    assert "\n" not in parsed["Subject"]
