"""The console's pages over HTTP: login, session cookie, CSRF, redirects, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from markupsafe import escape

from sns_subscriber.service.console.auth import ConsoleAuth

from ..support.console import ATTACK, TOKEN
from .conftest import Console


@pytest.fixture
def browser(console: Console) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, follow_redirects=False) as client:
        yield client


def log_in(client: httpx.Client, *, next_path: str = "/") -> httpx.Response:
    form = client.get("/login")
    nonce = re.search(r'name="login_nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    return client.post("/login", data={"login_nonce": nonce.group(1), "token": TOKEN, "next": next_path})


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_pages_send_a_browser_without_a_session_to_login(browser: httpx.Client) -> None:
    for path in ("/", "/messages?status=dead", "/dead", "/subscriptions", "/budgets", "/messages/x"):
        reply = browser.get(path)
        assert reply.status_code == 303, path
        assert reply.headers["location"].startswith("/login?next=")


def test_login_sets_a_hardened_session_cookie(browser: httpx.Client) -> None:
    reply = log_in(browser, next_path="/dead")
    assert (reply.status_code, reply.headers["location"]) == (303, "/dead")
    cookie = next(
        v for k, v in reply.headers.multi_items() if k == "set-cookie" and "sns_console_session=" in v
    )
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= flags
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in flags  # plain http here; see the https test below
    assert TOKEN not in cookie and TOKEN not in reply.headers["location"]
    assert browser.get("/dead").status_code == 200


def test_session_cookie_is_secure_behind_https(browser: httpx.Client) -> None:
    form = browser.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in form.headers["set-cookie"].lower()
    nonce = re.search(r'name="login_nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    # httpx keeps a Secure cookie for https only: send it back by hand, as a browser would.
    reply = browser.post(
        "/login",
        data={"login_nonce": nonce.group(1), "token": TOKEN, "next": "/"},
        headers={"X-Forwarded-Proto": "https", "Cookie": f"sns_console_login={nonce.group(1)}"},
    )
    cookie = next(
        v for k, v in reply.headers.multi_items() if k == "set-cookie" and "sns_console_session=" in v
    )
    assert "; secure" in cookie.lower()


def test_login_refuses_a_wrong_token_and_a_form_it_did_not_hand_out(browser: httpx.Client) -> None:
    """Login CSRF: a login form posted from another site has no matching nonce cookie."""
    form = browser.get("/login")
    nonce = re.search(r'name="login_nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    wrong = browser.post("/login", data={"login_nonce": nonce.group(1), "token": "guess-0123456789abcdef"})
    assert wrong.status_code == 401
    assert "sns_console_session" not in wrong.headers.get("set-cookie", "")
    browser.cookies.clear()
    forged = browser.post("/login", data={"login_nonce": "made-up", "token": TOKEN})
    assert forged.status_code == 403
    assert "sns_console_session" not in forged.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_off_the_console(browser: httpx.Client, target: str) -> None:
    """Open redirect: ``next`` must stay a path on the console."""
    reply = log_in(browser, next_path=target)
    assert reply.headers["location"] == "/"


def test_state_changing_forms_need_the_sessions_csrf_token(browser: httpx.Client, console: Console) -> None:
    console.inbox.failing = True
    dead = console.inbox.notify("fails", subject="fails")
    console.inbox.process()
    log_in(browser)
    token = csrf_of(browser)
    posts = [
        (f"/messages/{dead}/replay", {}),
        ("/replay", {"status": "dead"}),
        ("/subscriptions/1/confirm", {}),
        ("/logout", {}),
    ]
    for path, data in posts:
        for csrf in (None, "", "forged", token[:-1] + ("A" if token[-1] != "A" else "B")):
            form = dict(data) if csrf is None else {**data, "csrf": csrf}
            assert browser.post(path, data=form).status_code == 403, (path, csrf)
    assert console.inbox.store.get(dead).status.value == "dead"  # type: ignore[union-attr]
    # Another session's token is not this session's.
    with httpx.Client(base_url=console.url) as other:
        log_in(other)
        assert browser.post(f"/messages/{dead}/replay", data={"csrf": csrf_of(other)}).status_code == 403
    reply = browser.post(f"/messages/{dead}/replay", data={"csrf": token})
    assert (reply.status_code, reply.headers["location"]) == (303, f"/messages/{dead}?notice=replayed")
    # Logged out: state changes are refused outright, pages go back to the login.
    browser.post("/logout", data={"csrf": token})
    browser.cookies.clear()
    assert browser.post("/replay", data={"csrf": token, "status": "dead"}).status_code == 403


def test_sessions_expire_and_cannot_be_forged() -> None:
    now = [1_000_000.0]
    auth = ConsoleAuth(TOKEN, session_seconds=3600, clock=lambda: now[0])
    cookie = auth.new_session()
    session = auth.session(cookie)
    assert session is not None
    assert auth.csrf_ok(session, auth.csrf_token(session))
    expires, nonce, mac = cookie.split(".")
    assert auth.session(f"{int(expires) + 10_000}.{nonce}.{mac}") is None  # extended by hand
    assert auth.session(f"{expires}.{nonce}x.{mac}") is None
    assert auth.session(cookie + "=") is None
    other = ConsoleAuth("another-token-0123456789", session_seconds=3600, clock=lambda: now[0])
    assert other.session(cookie) is None  # a new token ends every session
    now[0] += 3601
    assert auth.session(cookie) is None
    with pytest.raises(ValueError, match="at least 16"):
        ConsoleAuth("short", session_seconds=60)


def test_message_text_is_escaped_on_every_page(browser: httpx.Client, console: Console) -> None:
    """A signed Subject or budget name carrying markup is shown as text, never as markup."""
    inbox = console.inbox
    attack = inbox.notify("body", subject=ATTACK)
    budget = inbox.budget_alert(budget_name=ATTACK)
    inbox.failing = True
    dead = inbox.notify(ATTACK, subject=ATTACK)
    inbox.process()
    log_in(browser)
    for path in (
        "/messages",
        f"/messages/{attack}",
        f"/messages/{budget}",
        "/budgets",
        "/dead",
        f"/messages/{dead}",
    ):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert ATTACK not in page.text, path
        assert str(escape(ATTACK)) in page.text, path
        assert "<script" not in page.text.replace('<script src="/static/console.js" defer></script>', "")


def test_bad_filters_are_a_400_page(browser: httpx.Client) -> None:
    log_in(browser)
    for query in ("status=lost", "cursor=xyz", "since=tomorrow", "limit=-1", "what=1"):
        reply = browser.get(f"/messages?{query}")
        assert reply.status_code == 400, query
        assert "Bad request" in reply.text
    assert browser.get("/subscriptions?status=maybe").status_code == 400
    assert browser.get("/messages/nothing-like-this").status_code == 404
