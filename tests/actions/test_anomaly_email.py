"""Cost Anomaly Detection alerts e-mailed to the owners of the linked account or the monitor."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.actions import Recipient
from sns_subscriber.actions.anomaly_email import AnomalyEmailAction, AnomalyOwner, AnomalyOwnerResolver
from sns_subscriber.actions.budget_email import sender_address
from sns_subscriber.delivery import SKIPPED
from sns_subscriber.exceptions import ConfigurationError
from sns_subscriber.producers.anomaly import CostAnomaly, parse_cost_anomaly

from .conftest import Ledger, RecordingBackend, make_delivery

FIXTURE = (
    Path(__file__).parent.parent / "data" / "producers" / "cost-anomaly-detection-2023-04-11.message.json"
)


def anomaly(**changes: Any) -> CostAnomaly:
    data = json.loads(FIXTURE.read_text())
    data.update(changes)
    parsed = parse_cost_anomaly(data, json.dumps(data))
    assert parsed is not None
    return parsed


def linked(account: str, *more: str) -> list[dict[str, str]]:
    return [{"service": "Amazon EC2", "region": "eu-west-1", "linkedAccount": a} for a in (account, *more)]


def send(
    resolver: AnomalyOwnerResolver, event: CostAnomaly, ledger: Ledger | None = None
) -> RecordingBackend:
    backend = RecordingBackend()
    action = AnomalyEmailAction(backend, resolver, sender=sender_address("Cost alerts <alerts@example.com>"))
    action(make_delivery(event, ledger=ledger))
    return backend


def to(backend: RecordingBackend) -> list[str]:
    return [m["To"].addresses[0].addr_spec for m in backend.sent]


def test_real_anomaly_email_says_every_fact() -> None:
    backend = send(AnomalyOwnerResolver([AnomalyOwner(email="ops@example.com", name="Ops", monitor="AWSService*")]),
                   anomaly())  # fmt: skip
    [message] = backend.sent
    assert (
        message["Subject"] == "AWS cost anomaly in AWS CloudTrail: $11.82 above expected (account 1234567890)"
    )
    text = message.get_body(("plain",))
    assert text is not None
    lines = [" ".join(line.split()) for line in text.get_content().splitlines() if line.strip()]
    assert lines[:13] == [
        "Hello Ops,",
        "AWS Cost Anomaly Detection found unusual spend: "
        "AWS cost anomaly in AWS CloudTrail: $11.82 above expected (account 1234567890).",
        "Monitor: AWSServiceMonitor",
        "Where: AWS CloudTrail",
        "Impact: $11.82 (4377.78% above expected)",
        "Expected spend: $0.27",
        "Actual spend: $12.09",
        "Linked accounts: 1234567890",
        "Started: 2023-04-05",
        "Last seen: 2023-04-10",
        "Root causes:",
        "- AWS CloudTrail, eu-west-1, EU-InsightsEvents, account 1234567890",
        "See the anomaly in the AWS console:",
    ]
    assert "https://console.aws.amazon.com/cost-management/home#/anomaly-detection/monitors/" in lines


def test_routed_by_linked_account_or_monitor() -> None:
    owners = [
        AnomalyOwner(email="team-a@example.com", account="111111111111"),
        AnomalyOwner(email="team-b@example.com", account="222222222222"),
        AnomalyOwner(email="platform@example.com", monitor="Platform-*"),
        AnomalyOwner(email="both@example.com", account="222222222222", monitor="Other"),
    ]
    resolver = AnomalyOwnerResolver(owners, fallback=[Recipient("finance@example.com")])
    assert to(send(resolver, anomaly(rootCauses=linked("222222222222")))) == ["team-b@example.com"]
    assert to(send(resolver, anomaly(rootCauses=linked("111111111111", "222222222222")))) == [
        "team-a@example.com", "team-b@example.com",
    ]  # fmt: skip
    assert to(send(resolver, anomaly(monitorName="Platform-EC2", rootCauses=linked("333333333333")))) == [
        "platform@example.com"
    ]
    assert to(send(resolver, anomaly(monitorName="Other", rootCauses=linked("222222222222")))) == [
        "team-b@example.com", "both@example.com",
    ]  # fmt: skip
    # Without root causes the alert's own account counts.
    assert to(send(resolver, anomaly(accountId="111111111111", rootCauses=[]))) == ["team-a@example.com"]


def test_unclaimed_anomaly_reaches_the_fallback_told_why() -> None:
    resolver = AnomalyOwnerResolver([AnomalyOwner(email="a@example.com", account="111111111111")],
                                    fallback=[Recipient("finance@example.com")])  # fmt: skip
    [message] = send(resolver, anomaly(rootCauses=linked("999999999999"))).sent
    text = message.get_body(("plain",))
    assert text is not None
    assert (
        'You receive this e-mail as a fallback recipient: no owner matched monitor "AWSServiceMonitor" or '
        "linked account 999999999999." in " ".join(text.get_content().split())
    )


def test_anomaly_reaching_nobody_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    action = AnomalyEmailAction(
        RecordingBackend(), AnomalyOwnerResolver([]), sender=sender_address("a@example.com")
    )
    with caplog.at_level(logging.WARNING, logger="sns_subscriber.actions.anomaly_email"):
        assert action(make_delivery(anomaly())) is SKIPPED
    assert "reached nobody" in caplog.text and "AWSServiceMonitor" in caplog.text


def test_redelivery_sends_once_per_owner() -> None:
    resolver = AnomalyOwnerResolver([AnomalyOwner(email="ops@example.com", monitor="*")])
    ledger = Ledger()
    backend = RecordingBackend()
    action = AnomalyEmailAction(backend, resolver, sender=sender_address("a@example.com"))
    action(make_delivery(anomaly(), ledger=ledger))
    action(make_delivery(anomaly(), ledger=ledger))
    assert to(backend) == ["ops@example.com"]


def test_hostile_monitor_name_is_escaped_in_html_and_the_link_stays_aws() -> None:
    event = anomaly(
        monitorName="<img src=x onerror=alert(1)>", anomalyDetailsLink="https://evil.example/phish"
    )
    [message] = send(AnomalyOwnerResolver([AnomalyOwner(email="o@example.com", monitor="*")]), event).sent
    html = message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<img" not in content and "&lt;img src=x onerror=alert(1)&gt;" in content
    assert "evil.example" not in message.as_string()  # a link off the AWS console is not shown


@pytest.mark.parametrize(
    ("owner", "error"),
    [
        ({}, "account or a monitor"),
        ({"account": "123"}, "12-digit"),
        ({"monitor": "*", "email": "bad"}, "invalid"),
    ],
)
def test_bad_anomaly_owner_is_refused(owner: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        AnomalyOwner(**{"email": "o@example.com", **owner})


def test_configured_anomaly_email_action() -> None:
    from sns_subscriber.service.actions import make_action
    from sns_subscriber.service.config import load_config

    config = load_config(
        data={"email": {"backend": "console", "fallback": ["finance@example.com"]},
              "anomaly_owners": [{"email": "ops@example.com", "monitor": "AWS*", "name": "Ops"}]},
        environ={},
    )  # fmt: skip
    action = make_action("anomaly-email", config, {}, [])
    assert isinstance(action, AnomalyEmailAction)
    assert [o.email for o in action.resolver.owners] == ["ops@example.com"]
    assert [r.email for r in action.resolver.fallback] == ["finance@example.com"]
