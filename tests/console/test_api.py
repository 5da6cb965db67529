"""The console's JSON API, on SQLite and PostgreSQL: auth, listings, detail, replay, confirm,
stats, and strict input checks (400, never 500)."""

from __future__ import annotations

import base64
import json

import pytest

from sns_subscriber.testing import TEST_TOPIC_ARN

from ..support.clock import FakeClock
from ..support.console import ATTACK, TOKEN, api
from ..support.servers import request
from .conftest import Console


def test_every_api_call_needs_the_bearer_token(console: Console) -> None:
    """Without the token (missing, wrong, another scheme, or put in the URL) nothing is read or changed."""
    message_id = console.inbox.notify()
    calls = [
        ("GET", "/api/messages"),
        ("GET", f"/api/messages/{message_id}"),
        ("POST", f"/api/messages/{message_id}/replay"),
        ("POST", "/api/replay"),
        ("GET", "/api/subscriptions"),
        ("POST", "/api/subscriptions/1/confirm"),
        ("GET", "/api/stats"),
    ]
    for method, path in calls:
        for token, headers in [
            (None, {}),
            ("not-the-token-0123456789", {}),
            (None, {"Authorization": f"Basic {base64.b64encode(TOKEN.encode()).decode()}"}),
            (None, {"Authorization": TOKEN}),
        ]:
            status, body, reply = api(console.url, path, method=method, token=token, headers=headers)
            assert status == 401, (method, path, headers)
            assert body["error"] == "unauthorized"
            assert reply.headers["www-authenticate"].startswith("Bearer")
    status, _, _ = api(console.url, f"/api/messages?token={TOKEN}", token=None)
    assert status == 401


def test_listing_filters_and_keyset_pages(console: Console, clock: FakeClock) -> None:
    inbox = console.inbox
    ids = []
    for i in range(7):
        ids.append(inbox.notify(f"message {i}", subject=f"note {i}"))
        clock.advance(1)
    budget = inbox.budget_alert()
    inbox.process()

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        path = "/api/messages?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, body, _ = api(console.url, path)
        assert status == 200
        seen += [m["message_id"] for m in body["messages"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [budget, *reversed(ids)]

    status, body, _ = api(console.url, "/api/messages?producer=budgets")
    [only] = body["messages"]
    assert only["message_id"] == budget
    assert set(only) >= {
        "message_id", "status", "endpoint", "topic_arn", "subject", "producer", "received_at", "attempts", "last_error",
    }  # fmt: skip
    assert (only["status"], only["endpoint"], only["topic_arn"], only["attempts"]) == (
        "done",
        "/sns",
        TEST_TOPIC_ARN,
        1,
    )
    _, body, _ = api(console.url, "/api/messages?q=NOTE%203")
    assert [m["message_id"] for m in body["messages"]] == [ids[3]]
    _, body, _ = api(console.url, "/api/messages?status=dead")
    assert body == {"messages": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query",
    [
        "status=lost",
        "limit=0",
        "limit=201",
        "limit=ten",
        "cursor=not-a-cursor",
        "cursor=" + base64.urlsafe_b64encode(b"2026-01-01T00:00:00|1").decode().rstrip("="),  # no zone
        "cursor=" + "A" * 500,
        "since=yesterday",
        "since=2026-12-02T00:00Z&until=2026-12-01T00:00Z",
        "endpoint=sns",
        "producer=nobody",
        "q=" + "x" * 201,
        "q=%00",
        "topic=%0a",
        "unknown=1",
        "status=dead&status=done",
    ],
)
def test_bad_query_parameters_get_400_json(console: Console, query: str) -> None:
    status, body, _ = api(console.url, f"/api/messages?{query}")
    assert status == 400, query
    assert body["error"] == "bad_request"
    assert body["detail"]


def test_bad_bodies_and_ids_get_400_json(console: Console) -> None:
    message_id = console.inbox.notify()
    cases = [
        ("POST", "/api/replay", b"[1, 2]"),
        ("POST", "/api/replay", b"{not json"),
        ("POST", "/api/replay", {"colour": "red"}),
        ("POST", "/api/replay", {"status": 3}),
        ("POST", "/api/replay", {"force": "yes"}),
        ("POST", "/api/replay", {"status": "sideways"}),
        ("POST", "/api/replay", b"{" + b'"a":' * 10 + b"1" + b"}" * 10),
        ("POST", "/api/replay", b"x" * 20_000),
        ("POST", f"/api/messages/{message_id}/replay", {"force": 1}),
        ("POST", f"/api/messages/{message_id}/replay", {"forced": True}),
        ("POST", "/api/subscriptions/abc/confirm", None),
        ("POST", "/api/subscriptions/-1/confirm", None),
        ("GET", "/api/subscriptions?status=maybe", None),
        ("GET", "/api/stats?window=1", None),
    ]
    for method, path, body in cases:
        status, decoded, _ = api(console.url, path, method=method, body=body)
        assert status == 400, (path, body)
        assert decoded["error"] == "bad_request"


def test_message_detail_shows_the_typed_event_and_hides_the_unsubscribe_url(console: Console) -> None:
    message_id = console.inbox.budget_alert(budget_name="team-a-prod", amount="95.12")
    console.inbox.process()
    status, body, reply = api(console.url, f"/api/messages/{message_id}")
    assert status == 200
    assert body["event"]["type"] == "BudgetAlert"
    fields = body["event"]["fields"]
    assert (fields["budget_name"], fields["amount"], fields["budgeted_amount"]) == (
        "team-a-prod",
        "95.12",
        "100.00",
    )
    assert fields["alert_type"] == "ACTUAL"
    assert body["producer"] == "budgets"
    assert body["actions"] == [
        {
            "key": "handler:/sns:test",
            "done_at": body["actions"][0]["done_at"],
            "what": "handler /sns:test succeeded",
        }
    ]
    assert any("SHA256withRSA" in sentence for sentence in body["verified"])
    assert b"Action=Unsubscribe" not in reply.body  # neither in the envelope nor in the body
    assert body["envelope"]["UnsubscribeURL"].startswith("(redacted")
    status, body, _ = api(console.url, "/api/messages/no-such-message")
    assert (status, body["error"]) == (404, "not_found")


def test_replay_one_and_replay_by_filter(console: Console) -> None:
    inbox = console.inbox
    inbox.failing = True
    dead = [inbox.notify(f"doomed {i}", subject=f"doomed {i}") for i in range(3)]
    inbox.process()
    _, body, _ = api(console.url, "/api/messages?status=dead")
    assert {m["message_id"] for m in body["messages"]} == set(dead)
    assert body["messages"][0]["last_error"] == "RuntimeError: the downstream service said no"

    inbox.failing = False
    status, body, _ = api(
        console.url, f"/api/messages/{dead[0]}/replay", method="POST", body={"force": False}
    )
    assert (status, body) == (200, {"message_id": dead[0], "status": "received"})
    status, body, _ = api(console.url, f"/api/messages/{dead[0]}/replay", method="POST")
    assert (status, body["error"]) == (409, "conflict")  # received, not done or dead
    status, body, _ = api(console.url, "/api/messages/nope/replay", method="POST")
    assert status == 404

    status, body, _ = api(console.url, "/api/replay", method="POST", body={"status": "dead", "q": "doomed 1"})
    assert (status, body) == (200, {"replayed": 1})
    status, body, _ = api(console.url, "/api/replay", method="POST", body={"status": "dead"})
    assert body == {"replayed": 1}
    inbox.process()
    _, body, _ = api(console.url, "/api/messages")
    assert {m["status"] for m in body["messages"]} == {"done"}
    assert sorted(inbox.handled) == sorted(dead)


def test_subscriptions_list_and_confirm(console: Console) -> None:
    inbox = console.inbox
    inbox.pending_subscription(confirm_host=console.confirm_host.address)
    status, body, _ = api(console.url, "/api/subscriptions?status=pending")
    [pending] = body["subscriptions"]
    assert status == 200
    assert pending["state"] == "pending"
    assert "token" not in pending and "subscribe_url" not in pending  # whoever has them can confirm

    console.confirm_host.status = 403
    status, body, _ = api(console.url, f"/api/subscriptions/{pending['id']}/confirm", method="POST")
    assert (status, body["error"]) == (502, "confirmation_failed")

    console.confirm_host.status = 200
    status, body, _ = api(console.url, f"/api/subscriptions/{pending['id']}/confirm", method="POST")
    assert status == 200
    assert body["subscription"]["state"] == "confirmed"
    assert body["subscription"]["subscription_arn"] == f"{TEST_TOPIC_ARN}:confirmed-by-console"
    assert console.confirm_host.requests[-1].startswith("/?Action=ConfirmSubscription")
    _, body, _ = api(console.url, "/api/subscriptions?status=pending")
    assert body["subscriptions"] == []
    status, body, _ = api(console.url, f"/api/subscriptions/{pending['id']}/confirm", method="POST")
    assert (status, body["error"]) == (409, "conflict")
    status, body, _ = api(console.url, "/api/subscriptions/999999/confirm", method="POST")
    assert status == 404


def test_stats_count_per_status_and_group(console: Console, clock: FakeClock) -> None:
    inbox = console.inbox
    inbox.notify("one")
    inbox.process()
    inbox.failing = True
    inbox.notify("two")
    inbox.process()
    clock.advance(1)  # the traffic window ends (exclusive) at "now"
    status, body, _ = api(console.url, "/api/stats")
    assert status == 200
    assert body["totals"]["dead"] == 1
    [group] = body["groups"]
    assert (group["endpoint"], group["topic_arn"]) == ("/sns", TEST_TOPIC_ARN)
    assert group["open"] == {"dead": 1}
    assert group["recent"] == {"dead": 1, "done": 1}
    assert group["error_rate"] == 0.5
    assert sum(body["traffic"]["buckets"]) == 2


def test_unknown_api_paths_and_methods_answer_json(console: Console) -> None:
    status, body, _ = api(console.url, "/api/nothing-here")
    assert (status, body) == (404, {"error": "not_found"})
    status, body, _ = api(console.url, "/api/stats", method="DELETE")
    assert status == 405


def test_injected_markup_comes_back_as_json_text(console: Console) -> None:
    """The API answers JSON only: hostile text is data, with a JSON content type and nosniff."""
    message_id = console.inbox.notify("body", subject=ATTACK)
    _, body, reply = api(console.url, f"/api/messages/{message_id}")
    assert body["subject"] == ATTACK
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert json.loads(reply.body)["subject"] == ATTACK


def test_answers_are_never_cached_and_carry_security_headers(console: Console) -> None:
    reply = request(console.url + "/login", method="GET")
    assert reply.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert "unsafe-inline" not in reply.headers["content-security-policy"]
    assert reply.headers["x-frame-options"] == "DENY"
