"""detect(): every real payload lands on the right model, forcing a producer, and "never raises"."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sns_subscriber.producers as producers
from sns_subscriber.messages import Notification, RawNotification
from sns_subscriber.producers import (
    PRODUCERS as PRODUCER_NAMES,
)
from sns_subscriber.producers import (
    BudgetAlert,
    BudgetTopicVerified,
    CloudWatchAlarm,
    CostAnomaly,
    EventBridgeEvent,
    S3Event,
    SESEvent,
    UnknownPayload,
    detect,
    detect_text,
)

from .producer_fixtures import PRODUCERS, SIGNED, message, notification, read

ENVELOPES: dict[Path, type] = {
    PRODUCERS / "actual-cost-daily-2023-03-05.lambda-event.json": BudgetAlert,
    PRODUCERS / "actual-cost-daily-2023-03-05.lambda-record.json": BudgetAlert,
    PRODUCERS / "actual-cost-monthly-2022-09-26.envelope.json": BudgetAlert,
    PRODUCERS / "forecasted-cost-monthly-2026-01-28.envelope.json": BudgetAlert,
    PRODUCERS / "cloudwatch-alarm-ALARM-2022-09-25.json": CloudWatchAlarm,
    PRODUCERS / "cloudwatch-alarm-INSUFFICIENT_DATA-2019-08-09.json": CloudWatchAlarm,
    PRODUCERS / "cloudwatch-alarm-OK-anomaly-band-2021-06-27.json": CloudWatchAlarm,
    PRODUCERS / "ses-bounce-notification-2022-04-01.json": SESEvent,
    PRODUCERS / "ses-complaint-event-publishing-2022-03-28.json": SESEvent,
    PRODUCERS / "s3-object-created-2019-09-04.lambda-record.json": S3Event,
    PRODUCERS / "aws-health-event-via-sns-2022-02-18.json": EventBridgeEvent,
    PRODUCERS / "aws-health-abuse-event-via-sns-2022-02-18.json": EventBridgeEvent,
    SIGNED / "budget-actual-daily-2023-03-05-us-east-1.lambda-record.json": BudgetAlert,
    SIGNED / "budget-actual-monthly-2022-09-26-ca-central-1.json": BudgetAlert,
    SIGNED / "budget-forecasted-monthly-2026-01-28-eu-west-1.json": BudgetAlert,
    SIGNED / "cloudwatch-alarm-ALARM-2022-09-25-ca-central-1.json": CloudWatchAlarm,
    SIGNED / "cloudwatch-alarm-INSUFFICIENT_DATA-2019-08-09-us-east-1.json": CloudWatchAlarm,
    SIGNED / "health-abuse-event-dmca-2022-02-18-ap-southeast-2.json": EventBridgeEvent,
    SIGNED / "health-event-ec2-store-drive-2022-02-18-ap-southeast-2.json": EventBridgeEvent,
    SIGNED / "health-event-elb-api-issue-2022-02-18-ap-southeast-2.json": EventBridgeEvent,
    SIGNED / "s3-object-created-2019-09-04-us-west-1.lambda-record.json": S3Event,
    SIGNED / "ses-bounce-notification-2022-04-01-us-east-1.json": SESEvent,
    SIGNED / "ses-complaint-event-publishing-2022-03-28-us-east-1.json": SESEvent,
}
BARE_MESSAGES: dict[str, type] = {
    "actual-cost-daily-2023-03-04.from-log.txt": BudgetAlert,
    "actual-cost-daily-2023-03-05.txt": BudgetAlert,
    "actual-cost-monthly-2022-09-26.txt": BudgetAlert,
    "actual-cost-monthly-2026-02-17.raw-delivery.txt": BudgetAlert,
    "forecasted-cost-monthly-2026-01-28.txt": BudgetAlert,
    "cost-anomaly-detection-2023-04-11.message.json": CostAnomaly,
    "cost-anomaly-detection.doc-example.message.txt": CostAnomaly,
    "ses-delivery-notification.doc-example.message.json": SESEvent,
}
NAMES: dict[type, str] = {
    BudgetAlert: "budgets",
    CostAnomaly: "cost-anomaly",
    CloudWatchAlarm: "cloudwatch",
    SESEvent: "ses",
    S3Event: "s3",
    EventBridgeEvent: "eventbridge",
}
SAMPLES: list[tuple[str, type]] = [(message(p), t) for p, t in ENVELOPES.items()] + [
    (read(name), t) for name, t in BARE_MESSAGES.items()
]


@pytest.mark.parametrize(
    ("path", "model"), ENVELOPES.items(), ids=lambda v: v.name if isinstance(v, Path) else ""
)
def test_real_envelope_detected(path: Path, model: type) -> None:
    event = detect(notification(path))
    assert type(event) is model
    assert event.producer == NAMES[model]


@pytest.mark.parametrize(("name", "model"), BARE_MESSAGES.items())
def test_real_message_detected(name: str, model: type) -> None:
    text = read(name)
    assert type(detect_text(text)) is model
    raw = RawNotification(message_id="m", topic_arn="arn:aws:sns:us-east-1:123456789012:t", message=text)
    assert type(detect(raw)) is model


@pytest.mark.parametrize(
    "path",
    sorted(SIGNED.glob("notification-*.json")),
    ids=lambda p: p.name,
)
def test_plain_notifications_are_unknown(path: Path) -> None:
    text = message(path)
    expected_json = {"foo": "bar"} if text == '{"foo": "bar"}' else None
    assert detect(notification(path)) == UnknownPayload(raw=text, json=expected_json)


@pytest.mark.parametrize(("text", "model"), SAMPLES, ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_forced_producer_that_fits(text: str, model: type) -> None:
    assert detect_text(text, producer=NAMES[model]) == detect_text(text)


MISMATCHES = [
    pytest.param(producer, text, id=f"{producer}-on-{model.__name__}")
    for text, model in SAMPLES
    for producer in PRODUCER_NAMES
    if NAMES[model] != producer
]


@pytest.mark.parametrize(("producer", "text"), MISMATCHES)
def test_forced_producer_mismatch_is_unknown(producer: str, text: str) -> None:
    event = detect_text(text, producer=producer)
    assert isinstance(event, UnknownPayload)
    assert event.raw == text


def test_unknown_producer_name_is_unknown() -> None:
    text = read("actual-cost-monthly-2022-09-26.txt")
    assert detect_text(text, producer="budget") == UnknownPayload(raw=text)


def test_forced_budgets_accepts_a_changed_header() -> None:
    original = read("actual-cost-monthly-2022-09-26.txt")
    text = original.replace("AWS Budget Notification", "AWS Budgets Alert")
    assert isinstance(detect_text(text), UnknownPayload)
    alert = detect_text(text, producer="budgets")
    assert isinstance(alert, BudgetAlert)
    assert alert.budget_name == "Test Budget"
    assert alert.notification_date is None


def _notification(text: str, subject: str | None) -> Notification:
    return Notification(
        message_id="m",
        topic_arn="arn:aws:sns:us-east-1:123456789012:budgets",
        message=text,
        timestamp="2024-01-01T00:00:00.000Z",
        signature_version="2",
        signature="",
        signing_cert_url="",
        subject=subject,
    )


def test_topic_verified() -> None:
    event = detect(_notification("SNS Topic Verified!", "SNS Topic Verified!"))
    assert event == BudgetTopicVerified(raw="SNS Topic Verified!", subject="SNS Topic Verified!")
    assert event.producer == "budgets-test"
    forced = detect(_notification("SNS Topic Verified!", "SNS Topic Verified!"), producer="budgets")
    assert forced == event
    assert isinstance(detect(_notification("SNS Topic Verified!", None), producer="s3"), UnknownPayload)


def test_producer_names() -> None:
    assert PRODUCER_NAMES == ("budgets", "cost-anomaly", "cloudwatch", "ses", "s3", "eventbridge")
    assert UnknownPayload.producer == "unknown"
    assert BudgetTopicVerified.producer == "budgets-test"
    assert {model.producer for model in NAMES} == set(PRODUCER_NAMES)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected_json"),
    [
        ("", None),
        ("   ", None),
        ("not json", None),
        ("{", None),
        ("[1, 2]", [1, 2]),
        ('"a string"', None),
        ("null", None),
        ('{"AlarmName": "x"}', {"AlarmName": "x"}),
        ('{"Records": [{"eventSource": "aws:s3"}],}', None),
        ("[" * 100_000, None),
        ('{"n": 1' + "0" * 5000 + "}", None),
    ],
    ids=[
        "empty",
        "blank",
        "text",
        "broken",
        "list",
        "json-string",
        "json-null",
        "half-alarm",
        "trailing-comma-s3",
        "deep",
        "huge-int",
    ],
)
def test_unknown_payloads(text: str, expected_json: object) -> None:
    event = detect_text(text)
    if text.startswith('{"Records"'):
        # The lenient fallback recognises it; the strict JSON is still reported as not JSON.
        assert isinstance(event, S3Event)
        return
    assert event == UnknownPayload(raw=text, json=expected_json)


def test_non_finite_numbers() -> None:
    text = '{"AlarmName": "x", "NewStateValue": "OK", "Trigger": {"Threshold": 1e999, "Period": NaN}}'
    event = detect_text(text)
    assert isinstance(event, CloudWatchAlarm)
    assert event.trigger.threshold is None
    assert event.trigger.period is None


def test_a_parser_bug_does_not_escape(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(data: Mapping[str, Any], raw: str) -> None:
        raise RuntimeError("bug")

    monkeypatch.setitem(producers._JSON_PARSERS, "cloudwatch", broken)
    text = message(PRODUCERS / "cloudwatch-alarm-ALARM-2022-09-25.json")
    assert isinstance(detect_text(text), UnknownPayload)
    assert "producer parser broken failed" in caplog.text
    # The other parsers still run.
    assert isinstance(detect_text(message(PRODUCERS / "ses-bounce-notification-2022-04-01.json")), SESEvent)


def test_any_failure_gives_unknown(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(text: str) -> BudgetAlert:
        raise ValueError("bug")

    monkeypatch.setattr(producers, "parse_budget_alert", broken)
    text = read("actual-cost-monthly-2022-09-26.txt")
    assert detect_text(text) == UnknownPayload(raw=text)
    assert "producer detection failed" in caplog.text


def test_wrong_field_types_in_the_notification() -> None:
    weird = _notification("x", None)
    object.__setattr__(weird, "message", b"bytes")
    object.__setattr__(weird, "subject", 5)
    assert detect(weird) == UnknownPayload(raw="")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["aws:s3", "s3:TestEvent", "aws.health", "Bounce", "Rendering Failure", "ALARM", "$1.00"]
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
PRODUCER_KEYS = [
    "AlarmName",
    "NewStateValue",
    "OldStateValue",
    "StateChangeTime",
    "Trigger",
    "AlarmArn",
    "notificationType",
    "eventType",
    "mail",
    "bounce",
    "complaint",
    "delivery",
    "failure",
    "Records",
    "Event",
    "Time",
    "anomalyId",
    "impact",
    "anomalyScore",
    "rootCauses",
    "anomalyStartDate",
    "source",
    "detail-type",
    "detail",
    "time",
    "resources",
]
PRODUCER_LIKE = st.dictionaries(
    st.sampled_from(PRODUCER_KEYS) | st.text(max_size=5),
    JSON_VALUES | st.dictionaries(st.sampled_from([*PRODUCER_KEYS, "s3", "object", "key"]), JSON_VALUES),
    max_size=8,
)
MODELS = (
    BudgetAlert,
    BudgetTopicVerified,
    CostAnomaly,
    CloudWatchAlarm,
    SESEvent,
    S3Event,
    EventBridgeEvent,
    UnknownPayload,
)


@given(JSON_VALUES | PRODUCER_LIKE, st.sampled_from([None, *PRODUCER_NAMES, "nope"]))
@settings(max_examples=500, deadline=None)
def test_never_raises_on_any_json(value: object, producer: str | None) -> None:
    text = json.dumps(value)
    event = detect(_notification(text, None), producer=producer)
    assert isinstance(event, MODELS)
    assert event.raw == text


@given(st.text(), st.none() | st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_never_raises_on_any_text(text: str, subject: str | None) -> None:
    event = detect(_notification(text, subject))
    assert isinstance(event, MODELS)
    assert event.raw == text


def test_import_needs_nothing_outside_the_standard_library() -> None:
    # The parent package's own core dependency (cryptography) is loaded first and excluded:
    # what is measured is what importing the producers adds.
    code = (
        "import sys, json, sns_subscriber\n"
        "before = set(sys.modules)\n"
        "import sns_subscriber.producers\n"
        "added = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(json.dumps(sorted(added - set(sys.stdlib_module_names) - {'sns_subscriber'})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_producer_modules_import_only_the_standard_library() -> None:
    import ast

    package = Path(producers.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, (path.name, name)
