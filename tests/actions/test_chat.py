"""Slack blocks and Teams Adaptive Cards: the same facts as the e-mail, every value escaped for
its destination, posted to real HTTP servers on 127.0.0.1 at a paced rate that survives 429s."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.actions.slack import slack_payload
from sns_subscriber.actions.teams import escape_markdown, teams_payload
from sns_subscriber.actions.webhook import WebhookAction, event_payload
from sns_subscriber.delivery import Delivery
from sns_subscriber.pacing import Pacer, RetryLater, parse_retry_after
from sns_subscriber.parsing import parse
from sns_subscriber.producers import CloudWatchAlarm, detect
from sns_subscriber.routing import Router
from sns_subscriber.stores import InboxStatus, InboxStore, NewMessage
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples
from sns_subscriber.worker import RetryPolicy, Worker

from ..conftest import SIGNED
from ..support.pipeline import sqlite_store
from ..support.webhook_server import ChatWebhook
from .conftest import make_alert, make_delivery

CONSOLE = "https://console.aws.amazon.com/costmanagement/home#/budgets/details?name="


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON document (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def signed_delivery(name: str) -> Delivery:
    message = parse((SIGNED / name).read_bytes())
    return Delivery(message=message, event=detect(message), endpoint="/sns", handler_name="chat")  # type: ignore[arg-type]


def alarm_delivery(**changes: Any) -> Delivery:
    delivery = signed_delivery("cloudwatch-alarm-ALARM-2022-09-25-ca-central-1.json")
    assert isinstance(delivery.event, CloudWatchAlarm)
    return dataclasses.replace(delivery, event=dataclasses.replace(delivery.event, **changes))


# -- Slack -----------------------------------------------------------------------------------


def test_slack_budget_blocks_carry_every_fact() -> None:
    payload = slack_payload(signed_delivery("budget-forecasted-monthly-2026-01-28-eu-west-1.json"))
    assert payload["text"] == (
        ":money_with_wings: *AWS budget test: is forecast to pass $0.00 (forecast $0.95)* (monthly) "
        "in account 391613010373"
    )
    assert payload["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn",
         "text": ":money_with_wings: *AWS budget test: is forecast to pass $0.00 (forecast $0.95)*"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Budget*\ntest"},
            {"type": "mrkdwn", "text": "*Alert type*\nFORECASTED"},
            {"type": "mrkdwn", "text": "*Amount*\n$0.95"},
            {"type": "mrkdwn", "text": "*Budgeted*\n$0.02"},
            {"type": "mrkdwn", "text": "*Threshold*\n$0.00"},
            {"type": "mrkdwn", "text": "*Period*\nJanuary 2026, day 28 of 31 (90% through)"},
            {"type": "mrkdwn", "text": "*AWS account*\n391613010373"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "This is a forecast: the spending has not happened yet."}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{CONSOLE}test|Open the budget in the AWS console>"}},
    ]  # fmt: skip


def test_slack_alarm_blocks_carry_alarm_state_and_reason() -> None:
    delivery = signed_delivery("cloudwatch-alarm-ALARM-2022-09-25-ca-central-1.json")
    alarm = delivery.event
    assert isinstance(alarm, CloudWatchAlarm) and alarm.reason
    blocks = slack_payload(delivery)["blocks"]
    assert blocks[0]["text"]["text"] == ":rotating_light: *ALARM*: Test alarm"
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Alarm*\nTest alarm",
        "*State*\nINSUFFICIENT_DATA → ALARM",
        "*Region*\nCanada (Central)",
        f"*AWS account*\n{alarm.account_id}",
    ]
    assert blocks[2]["text"]["text"] == "*Reason*\n" + alarm.reason.replace("&", "&amp;").replace(
        "<", "&lt;"
    ).replace(">", "&gt;")


def _no_slack_markup(payload: dict[str, Any]) -> None:
    for text in strings(payload):
        assert "<" not in text and ">" not in text, text


def test_slack_budget_name_cannot_mention_the_channel_or_hide_a_link() -> None:
    """Attack: a budget named ``<!channel> <https://evil|Click>`` pings everyone and shows a
    disguised link. Escaped, Slack shows the characters as typed."""
    hostile = "<!channel> <https://evil.example|Click> & more"
    payload = slack_payload(make_delivery(make_alert(budget_name=hostile)))
    _no_slack_markup(payload)  # no console link either: ":" is not allowed in budget names
    assert "&lt;!channel&gt; &lt;https://evil.example|Click&gt; &amp; more" in payload["text"]
    assert any("*Budget*\n&lt;!channel&gt;" in t for t in strings(payload["blocks"]))


def test_slack_alarm_state_value_cannot_become_a_link() -> None:
    """Attack (finding 12): a CloudWatch state value ``<https://evil|Click>``, and ``<!here>`` in
    the alarm name and reason, were interpolated into Slack text unescaped."""
    payload = slack_payload(
        alarm_delivery(
            new_state="<https://evil.example|Click>",
            old_state="<!channel>",
            name="<!here> cpu",
            reason="<@U123> see <https://evil.example|logs>",
            region="<!everyone>",
        )
    )
    _no_slack_markup(payload)
    assert "&lt;https://evil.example|Click&gt;" in payload["text"]
    assert "*State*\n&lt;!channel&gt; → &lt;https://evil.example|Click&gt;" in list(
        strings(payload["blocks"])
    )


def test_slack_plain_message_is_escaped() -> None:
    message = parse(SNSTestKit.body({"Type": "Notification", "MessageId": "0b7d1f0e-5c1a-4e38-9d2c-6f4a8e2b9c31", "TopicArn": TEST_TOPIC_ARN,
                                     "Message": "<!channel> hi", "Timestamp": "2026-01-01T00:00:00Z",
                                     "SignatureVersion": "2", "Signature": "x",
                                     "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                                     "Subject": "<https://evil|Click>"}))  # fmt: skip
    payload = slack_payload(Delivery(message=message, event=None, endpoint="/sns", handler_name="chat"))
    _no_slack_markup(payload)


# -- Teams -----------------------------------------------------------------------------------


def test_teams_budget_card_carries_every_fact() -> None:
    payload = teams_payload(signed_delivery("budget-forecasted-monthly-2026-01-28-eu-west-1.json"))
    assert payload == {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": "AWS budget test: is forecast to pass $0.00 (forecast $0.95)",
                     "wrap": True, "weight": "Bolder", "size": "Medium", "color": "Warning"},
                    {"type": "FactSet", "facts": [
                        {"title": "Budget", "value": "test"},
                        {"title": "Alert type", "value": "FORECASTED"},
                        {"title": "Amount", "value": "$0.95"},
                        {"title": "Budgeted", "value": "$0.02"},
                        {"title": "Threshold", "value": "$0.00"},
                        {"title": "Period", "value": "January 2026, day 28 of 31 (90% through)"},
                        {"title": "AWS account", "value": "391613010373"},
                    ]},
                    {"type": "TextBlock", "text": "This is a forecast: the spending has not happened yet.",
                     "wrap": True, "isSubtle": True},
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Open the budget in the AWS console",
                             "url": CONSOLE + "test"}],
            },
        }],
    }  # fmt: skip


def test_teams_alarm_card_carries_alarm_state_and_reason() -> None:
    delivery = signed_delivery("cloudwatch-alarm-ALARM-2022-09-25-ca-central-1.json")
    alarm = delivery.event
    assert isinstance(alarm, CloudWatchAlarm) and alarm.reason
    body = teams_payload(delivery)["attachments"][0]["content"]["body"]
    assert body[0]["text"] == "ALARM: Test alarm"
    assert body[1]["facts"] == [
        {"title": "Alarm", "value": "Test alarm"},
        {"title": "State", "value": "INSUFFICIENT\\_DATA → ALARM"},
        {"title": "Region", "value": "Canada (Central)"},
        {"title": "AWS account", "value": alarm.account_id},
    ]
    assert body[2]["text"] == escape_markdown(alarm.reason)


def test_teams_budget_name_cannot_become_a_link_or_markup() -> None:
    """Attack: a budget named ``[Click](https://evil)`` or ``**URGENT** pay now`` renders as a
    link or bold text in the card. Escaped, it reads as typed."""
    payload = teams_payload(
        make_delivery(make_alert(budget_name="[Click](https://evil.example) **URGENT** _x_"))
    )
    escaped = "\\[Click\\](https://evil.example) \\*\\*URGENT\\*\\* \\_x\\_"
    card = payload["attachments"][0]["content"]
    assert card["body"][1]["facts"][0] == {"title": "Budget", "value": escaped}
    assert card["body"][0]["text"].startswith(f"AWS budget {escaped}:")
    for text in strings(card["body"]):
        assert "[Click](" not in text and "**URGENT**" not in text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("- item", "\\- item"),
        ("1. first", "\\1. first"),
        ("# title", "\\# title"),
        ("a\\b", "a\\\\b"),
        ("<https://evil>", "\\<https://evil\\>"),
        ("`code` ~strike~", "\\`code\\` \\~strike\\~"),
        ("plain $95.12 (90%)", "plain $95.12 (90%)"),
    ],
)
def test_teams_markdown_escaping(value: str, shown: str) -> None:
    assert escape_markdown(value) == shown


def test_teams_alarm_reason_cannot_become_a_link() -> None:
    """Attack: an alarm reason carrying ``[Click](https://evil)`` becomes a link in the card."""
    card = teams_payload(alarm_delivery(reason="[Click](https://evil.example)", new_state="*ALARM*"))
    body = card["attachments"][0]["content"]["body"]
    assert body[2]["text"] == "\\[Click\\](https://evil.example)"
    assert body[0]["text"] == "\\*ALARM\\*: Test alarm"


def test_teams_plain_message_cannot_become_a_link() -> None:
    """Attack: any other producer's text (here a plain notification) carrying markdown links."""
    message = parse(SNSTestKit.body({"Type": "Notification", "MessageId": "0b7d1f0e-5c1a-4e38-9d2c-6f4a8e2b9c31", "TopicArn": TEST_TOPIC_ARN,
                                     "Message": "[Click](https://evil.example) & <b>", "Timestamp": "2026-01-01T00:00:00Z",
                                     "SignatureVersion": "2", "Signature": "x",
                                     "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                                     "Subject": "**bold**"}))  # fmt: skip
    card = teams_payload(Delivery(message=message, event=None, endpoint="/sns", handler_name="chat"))
    [block] = card["attachments"][0]["content"]["body"]
    assert block["text"] == "bold\n\\[Click\\](https://evil.example) & \\<b\\>"


# -- plain JSON webhooks -----------------------------------------------------------------------


def test_json_webhook_values_cannot_break_out_of_their_string() -> None:
    """Attack: a budget name with quotes, backslashes and control characters closes its JSON
    string and adds keys. json.dumps escapes them: the receiver reads the name back intact."""
    hostile = 'x", "admin": true, "y": "\\\u0000\n</script>'
    payload = event_payload(make_delivery(make_alert(budget_name=hostile)))
    decoded = json.loads(json.dumps(payload, separators=(",", ":")))
    assert decoded["event"]["budget_name"] == hostile
    assert "admin" not in decoded and "admin" not in decoded["event"]


# -- posting: Teams, pacing, 429 ------------------------------------------------------------------


def test_teams_format_posts_an_adaptive_card() -> None:
    with ChatWebhook() as webhook:
        WebhookAction(webhook.url, format="teams")(make_delivery())
    [posted] = webhook.accepted
    assert posted["type"] == "message"
    card = posted["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
    assert card["actions"][0]["url"] == CONSOLE + "team-a-prod"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 0 ", 0.0), ("99999", 3600.0), ("soon", None), ("", None), (None, None), ("-1", None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("١٢", None)],
)  # fmt: skip
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=1_800_000_000.0) == seconds


def test_pacer_spaces_requests_and_holds_after_429() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.5, 0.5]
    pacer.hold(5.0)
    pacer.wait()
    assert slept == [0.5, 0.5, 5.0]


def _store_alerts(store: InboxStore, kit: SNSTestKit, count: int) -> list[str]:
    ids = []
    for n in range(count):
        subject, text = samples.budget_alert(budget_name=f"team-{n:03d}")
        fields = kit.notification(TEST_TOPIC_ARN, text, subject=subject)
        store.add(NewMessage(message_id=str(fields["MessageId"]), endpoint="/budget-subscriber",
                             topic_arn=TEST_TOPIC_ARN, message_type="Notification",
                             subject=subject, body=kit.body(fields)))  # fmt: skip
        ids.append(str(fields["MessageId"]))
    return ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    s = sqlite_store(tmp_path)
    yield s
    s.close()


def test_burst_of_200_alerts_is_delivered_completely_in_order_without_dead_letters(
    sns_kit: SNSTestKit, store: InboxStore
) -> None:
    """Slack answers 429 + Retry-After when pushed: a burst to one webhook must still arrive
    whole and in order, and no message may die of a rate limit."""
    ids = _store_alerts(store, sns_kit, 200)
    throttle = {10: "1", 11: "1", 57: "", 150: "1"}  # "" = a 429 without Retry-After
    results: list[str] = []
    with ChatWebhook(throttle) as webhook:
        router = Router()
        router.add(
            WebhookAction(webhook.url, format="slack", pacer=Pacer(400.0), max_wait=30.0), name="slack"
        )
        # max_attempts=1: any counted failure would make a dead letter at once.
        worker = Worker(store, router, batch_size=50, retry=RetryPolicy(max_attempts=1),
                        on_result=lambda _, result: results.append(result))  # fmt: skip
        assert worker.drain() == 200
    assert webhook.throttled == 4
    assert webhook.requests == 204
    names = [p["blocks"][1]["fields"][0]["text"] for p in webhook.accepted]
    assert names == [f"*Budget*\nteam-{n:03d}" for n in range(200)]
    assert results == ["done"] * 200
    assert store.counts()[InboxStatus.DONE] == 200
    assert store.counts()[InboxStatus.DEAD] == 0
    for message_id in ids[:3]:
        record = store.get(message_id)
        assert record is not None and record.attempts == 1


def test_long_retry_after_defers_the_message_without_counting_an_attempt(
    sns_kit: SNSTestKit, store: InboxStore
) -> None:
    """A Retry-After longer than max_wait puts the message back for that long; the attempt is
    given back, so even max_attempts=1 never turns a rate limit into a dead letter."""
    [message_id] = _store_alerts(store, sns_kit, 1)
    results: list[str] = []
    with ChatWebhook({1: "120"}) as webhook:
        router = Router()
        router.add(WebhookAction(webhook.url, format="teams", pacer=Pacer(100.0), max_wait=5.0), name="teams")
        worker = Worker(store, router, retry=RetryPolicy(max_attempts=1),
                        on_result=lambda _, result: results.append(result))  # fmt: skip
        worker.drain()
    assert results == ["deferred"]
    record = store.get(message_id)
    assert record is not None
    assert (record.status, record.attempts) == (InboxStatus.RETRYING, 0)
    assert record.last_error is not None and "HTTP 429" in record.last_error
    assert webhook.accepted == []


def test_endless_zero_retry_after_does_not_pin_the_worker() -> None:
    """Attack/bug: a destination answering "429, Retry-After: 0" forever would keep one worker
    thread posting in a loop. After a bounded number of tries the message is put back."""
    with ChatWebhook(dict.fromkeys(range(1, 100), "0")) as webhook:
        action = WebhookAction(webhook.url, format="slack", pacer=Pacer(1000.0), max_wait=30.0)
        with pytest.raises(RetryLater) as caught:
            action(make_delivery())
    assert webhook.requests == 20
    assert caught.value.delay == 1.0


def test_retry_later_is_capped() -> None:
    assert RetryLater("x", delay=10**9).delay == 3600.0
    assert RetryLater("x", delay=-5).delay == 0.0


def test_configured_teams_webhook_is_paced_and_shares_its_pacer() -> None:
    from sns_subscriber.exceptions import ConfigurationError
    from sns_subscriber.service.actions import make_action
    from sns_subscriber.service.config import load_config

    data: dict[str, Any] = {
        "webhooks": [{"name": "team", "url": "https://example.invalid/workflows/x", "format": "teams",
                      "rate_per_second": 4.0, "max_wait_seconds": 12.0}],
    }  # fmt: skip
    config = load_config(data=data, environ={})
    cache: dict[str, Any] = {}
    first = make_action("webhook:team", config, cache, [])
    second = make_action("webhook:team", config, cache, [])
    assert isinstance(first, WebhookAction) and isinstance(second, WebhookAction)
    assert first.format == "teams" and first.max_wait == 12.0
    assert first.pacer is not None and first.pacer is second.pacer  # one pace per destination
    assert first.pacer.interval == 0.25
    data["webhooks"][0]["rate_per_second"] = 0.0
    with pytest.raises(ConfigurationError, match="rate_per_second"):
        make_action("webhook:team", load_config(data=data, environ={}), {}, [])
    data["webhooks"][0].update(rate_per_second=1.0, format="msteams")
    with pytest.raises(ConfigurationError, match="json, slack, teams"):
        make_action("webhook:team", load_config(data=data, environ={}), {}, [])
