"""The console in a real headless Chromium, against a real ``sns-subscriber serve`` process.

The inbox is filled through the real SNS endpoint with messages signed by the test kit; a
real worker e-mails budget owners (file outbox) and forwards to a webhook that first fails.
Screenshots of every page go to ``$SNS_SUBSCRIBER_SCREENSHOTS`` (default: the test's tmp dir).

Skipped when playwright or /usr/bin/chromium is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples

from ..support.console import ATTACK, TOKEN, ConfirmHost, api
from ..support.servers import request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUDGET_ATTACK = "<script>alert('budget')</script>"


def _require_browser() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        problem = f"playwright is not installed: {exc}"
    if problem is None and not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run under CI=true: {problem}")
    pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited:\n{log.read_text()}")
        try:
            if request(url, method="GET", timeout=1).status in (200, 303):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()}")


@dataclass
class Service:
    sns: str
    console: str
    kit: SNSTestKit
    downstream: ConfirmHost
    confirm_host: ConfirmHost
    outbox: Path

    def post(self, fields: dict[str, Any]) -> str:
        reply = request(self.sns + "/sns", body=self.kit.body(fields), headers=self.kit.headers(fields))
        assert reply.status == 200, reply.body
        return str(fields["MessageId"])

    def notify(self, message: str, subject: str | None = None) -> str:
        return self.post(self.kit.notification(TEST_TOPIC_ARN, message, subject=subject))

    def budget_alert(self, name: str, amount: str) -> str:
        subject, text = samples.budget_alert(
            budget_name=name, budgeted=Decimal("100.00"), threshold_percent=Decimal("90"),
            amount=Decimal(amount), alert_type="ACTUAL", period="monthly", account_id="123456789012",
        )  # fmt: skip
        return self.notify(text, subject)

    def status_of(self, message_id: str) -> str:
        _, body, _ = api(self.console, f"/api/messages/{message_id}")
        return str(body["status"])

    def wait_status(self, message_id: str, wanted: str) -> None:
        deadline = time.monotonic() + 20
        while self.status_of(message_id) != wanted:
            assert time.monotonic() < deadline, f"{message_id} never became {wanted}"
            time.sleep(0.1)


def write_config(
    tmp_path: Path, kit: SNSTestKit, ports: tuple[int, int], downstream: str, confirm: str
) -> Path:
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        f"""
[service]
port = {ports[0]}
[store]
url = "sqlite:///inbox.db"
[verification]
cert_dir = "{kit.write_cert_dir(tmp_path / "certs")}"
fetch = false
[localstack]
enabled = true
host = "{confirm}"
[worker]
max_attempts = 1
poll_interval_seconds = 0.05
[email]
backend = "file"
outbox_dir = "outbox"
[console]
enabled = true
port = {ports[1]}
[[endpoints]]
path = "/sns"
topics = ["{TEST_TOPIC_ARN}"]
confirm = "manual"
actions = ["budget-email", "webhook:downstream"]
[[budget_owners]]
budget = "*"
email = "alice@example.com"
name = "Alice"
[[webhooks]]
name = "downstream"
url = "http://{downstream}/hook"
timeout_seconds = 5.0
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def service(tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[Service]:
    _require_browser()
    downstream = ConfirmHost(status=200)
    confirm_host = ConfirmHost(status=200)
    ports = (_free_port(), _free_port())
    with downstream.running(), confirm_host.running():
        config = write_config(tmp_path, sns_kit, ports, downstream.address, confirm_host.address)
        log = tmp_path / "serve.log"
        env = os.environ | {"SNS_SUBSCRIBER_CONSOLE_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "sns_subscriber", "serve", "--config", str(config)],
                cwd=tmp_path, env=env, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            _wait(f"http://127.0.0.1:{ports[0]}/healthz", process, log)
            _wait(f"http://127.0.0.1:{ports[1]}/login", process, log)
            yield Service(
                f"http://127.0.0.1:{ports[0]}",
                f"http://127.0.0.1:{ports[1]}",
                sns_kit,
                downstream,
                confirm_host,
                tmp_path / "outbox",
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        assert process.returncode == 0, log.read_text()
        assert TOKEN not in log.read_text()  # the token is never logged


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SNS_SUBSCRIBER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_operator_walks_through_the_console(service: Service, browser: Any, shots: Path) -> None:
    """Log in, filter, open a message, replay dead letters (one, then all matching) and watch
    them turn done, confirm a pending subscription; hostile message text stays inert text."""
    service.downstream.status = 500  # the webhook fails: these become dead letters
    dead_one = service.notify("first failure", subject="order 1 failed downstream")
    dead_two = service.notify("second failure", subject="order 2 failed downstream")
    service.wait_status(dead_one, "dead")
    service.wait_status(dead_two, "dead")
    service.downstream.status = 200
    budget = service.budget_alert(BUDGET_ATTACK, "95.12")
    other_budget = service.budget_alert("team-b-prod", "120.00")
    attack = service.notify("hostile subject", subject=ATTACK)
    for i in range(5):
        service.notify(f"routine message {i}", subject=f"routine {i}")
    fields = service.kit.subscription_confirmation(TEST_TOPIC_ARN)
    fields["SubscribeURL"] = (
        f"http://{service.confirm_host.address}/?Action=ConfirmSubscription&TopicArn={TEST_TOPIC_ARN}"
        f"&Token={fields['Token']}"
    )
    service.post(service.kit.sign(fields))
    for message_id in (budget, other_budget, attack):
        service.wait_status(message_id, "done")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:  # an alert() from injected markup would land here
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    console = service.console

    # Not logged in: every page sends the browser to the login form.
    page.goto(console + "/messages?producer=budgets")
    assert page.url.startswith(console + "/login")
    page.screenshot(path=shots / "01-login.png", full_page=True)
    page.get_by_label("Admin token").fill("wrong-token-0123456789")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "That token is not valid."
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console + "/messages?producer=budgets")
    cookie = next(c for c in context.cookies() if c["name"] == "sns_console_session")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert TOKEN not in page.url and TOKEN not in cookie["value"]

    # Filter: the producer filter came through the login; now by subject text too.
    rows = page.locator("tbody tr")
    assert rows.count() == 2
    page.screenshot(path=shots / "02-messages-budgets.png", full_page=True)
    page.goto(console + "/messages")
    page.get_by_label("Subject contains").fill("routine 3")
    page.get_by_role("button", name="Filter").click()
    assert rows.count() == 1
    assert "routine 3" in rows.first.inner_text()
    page.get_by_label("Subject contains").fill("")
    page.get_by_label("Status").select_option("dead")
    page.get_by_role("button", name="Filter").click()
    assert rows.count() == 2
    page.goto(console + "/messages")
    page.screenshot(path=shots / "03-messages.png", full_page=True)

    # Overview with the traffic chart.
    page.goto(console + "/")
    assert page.locator("svg rect.bar").count() == 24
    assert "subscription(s) waiting for confirmation" in page.content()
    page.screenshot(path=shots / "04-overview.png", full_page=True)

    # A budget alert: typed fields, who was told; its hostile budget name is text.
    page.goto(console + "/messages")
    page.get_by_role("link", name=f"AWS Budgets: {BUDGET_ATTACK} has exceeded your alert threshold").click()
    page.wait_for_url(f"{console}/messages/{budget}")
    assert page.get_by_role("heading", name="Event: BudgetAlert").is_visible()
    facts = page.locator("dl.facts").nth(1).inner_text()
    assert "budget_name" in facts and BUDGET_ATTACK in facts and "95.12" in facts
    assert "e-mailed alice@example.com" in page.locator(".ledger").inner_text()
    assert "Action=Unsubscribe" not in page.content()
    page.screenshot(path=shots / "05-message-budget.png", full_page=True)

    # The hostile Subject: shown as text, nothing runs, no element is injected.
    page.goto(f"{console}/messages/{attack}")
    assert page.get_by_role("heading", level=1).inner_text() == ATTACK
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("document.title") != "pwned"
    page.screenshot(path=shots / "06-message-hostile.png", full_page=True)

    # Dead letters: replay one from its row and watch it turn done.
    page.goto(console + "/dead")
    assert page.locator("tbody tr").count() == 2
    page.screenshot(path=shots / "07-dead-letters.png", full_page=True)
    row = page.locator("tbody tr", has_text="order 1 failed downstream")
    row.get_by_role("button", name="Replay").click()
    page.wait_for_url(f"{console}/messages/{dead_one}?notice=replayed")
    assert "queued again" in page.get_by_role("status").inner_text()
    page.locator(".badge-done").wait_for(timeout=20_000)  # the page refreshes itself until then
    page.screenshot(path=shots / "08-replayed-done.png", full_page=True)

    # Replay all matching, through the confirmation step.
    page.goto(console + "/dead")
    page.get_by_role("link", name="Replay all matching…").click()
    assert page.get_by_role("heading", name="Replay messages").is_visible()
    page.screenshot(path=shots / "09-replay-confirm.png", full_page=True)
    page.get_by_role("button", name="Replay them").click()
    page.wait_for_url(console + "/dead?replayed=1")
    service.wait_status(dead_two, "done")

    # Confirm the pending subscription.
    page.goto(console + "/subscriptions?status=pending")
    page.screenshot(path=shots / "10-subscriptions-pending.png", full_page=True)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(console + "/subscriptions?notice=confirmed")
    assert page.locator(".badge-confirmed").count() == 1
    assert service.confirm_host.requests[-1].startswith("/?Action=ConfirmSubscription")
    page.screenshot(path=shots / "11-subscriptions.png", full_page=True)

    # Budgets: recent alerts per budget and who was told.
    page.goto(console + "/budgets")
    assert page.get_by_role("heading", name=BUDGET_ATTACK).is_visible()
    assert page.get_by_role("heading", name="team-b-prod").is_visible()
    assert page.locator("ul.told").first.inner_text().startswith("alice@example.com")
    page.screenshot(path=shots / "12-budgets.png", full_page=True)

    # At phone width every page stays usable.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.add_cookies(context.cookies())
    small = phone.new_page()
    for name, path in [("overview", "/"), ("messages", "/messages"), ("message", f"/messages/{budget}")]:
        small.goto(console + path)
        small.screenshot(path=shots / f"13-phone-{name}.png", full_page=True)
        width = small.evaluate("document.documentElement.scrollWidth")
        wide = small.evaluate(
            "Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 391)"
            ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"
        )
        assert width <= 390, f"{name} scrolls sideways ({width}px): {wide}"
    assert dialogs == []


def test_state_changes_without_session_or_csrf_token_are_refused(service: Service, browser: Any) -> None:
    """A cross-site form (or any request) that lacks the session's CSRF token changes nothing."""
    service.downstream.status = 500
    dead = service.notify("failing", subject="will stay dead")
    service.wait_status(dead, "dead")
    console = service.console

    anonymous = browser.new_context()
    reply = anonymous.request.post(f"{console}/messages/{dead}/replay", form={"force": "on"}, max_redirects=0)
    assert reply.status == 403
    reply = anonymous.request.get(f"{console}/dead", max_redirects=0)
    assert (reply.status, reply.headers["location"].startswith("/login")) == (303, True)

    context = browser.new_context()
    page = context.new_page()
    page.goto(console + "/login")
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console + "/")
    for form in ({}, {"csrf": "forged"}, {"csrf": ""}):
        reply = context.request.post(f"{console}/messages/{dead}/replay", form=form, max_redirects=0)
        assert reply.status == 403, form
        reply = context.request.post(f"{console}/replay", form={**form, "status": "dead"}, max_redirects=0)
        assert reply.status == 403, form
    # A forged session cookie is no session.
    forged = browser.new_context()
    forged.add_cookies([{"name": "sns_console_session", "value": "9999999999.x.y", "url": console}])
    assert forged.request.get(f"{console}/", max_redirects=0).status == 303
    assert service.status_of(dead) == "dead"
