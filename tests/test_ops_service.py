"""Operations through the running service: signature failures counted by the receiving process
reach the alert evaluator; the delivery-lag histogram, oldest unclaimed age and open alerts are
in /metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sns_subscriber.alerts import AlertEvaluator, AlertKind
from sns_subscriber.service.alerting import AlertingLoop, alert_settings, destinations, fan_out
from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import Runtime, build_runtime
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.servers import request, serve_asgi
from .support.stores import message
from .test_service import metric

PATH = "/sns"


@pytest.fixture
def runtime(tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[Runtime]:
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "verification": {"cert_dir": str(sns_kit.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "worker": {"poll_interval_seconds": 0.05},
            "email": {"backend": "file", "outbox_dir": str(tmp_path / "outbox")},
            "alerts": {"to": ["email:ops@example.com"], "signature_failures_threshold": 3},
            "endpoints": [
                {
                    "path": PATH,
                    "topics": [TEST_TOPIC_ARN],
                    "confirm": "manual",
                    "actions": ["log"],
                    "max_lag_seconds": 60,
                }
            ],
        },
        environ={},
    )
    runtime = build_runtime(config)
    yield runtime
    runtime.close()


def test_forged_requests_open_the_signature_failure_alert(
    runtime: Runtime, sns_kit: SNSTestKit, tmp_path: Path
) -> None:
    """Someone posts forged messages: each is answered 403, counted by the serving process, and
    the next evaluation opens one alert (e-mailed once) naming the endpoint."""
    from sns_subscriber.service.app import create_app

    closers: list[Callable[[], None]] = []
    evaluator = AlertEvaluator(
        runtime.store, alert_settings(runtime.config), fan_out(destinations(runtime.config, closers))
    )
    loop = AlertingLoop(evaluator, runtime.rejections, every=3600)
    with serve_asgi(create_app(runtime, run_worker=False)) as base:
        for index in range(4):
            fields = sns_kit.notification(TEST_TOPIC_ARN, f"forged {index}")
            fields["Message"] = "changed after signing"
            reply = request(base + PATH, body=sns_kit.body(fields), headers=sns_kit.headers(fields))
            assert reply.status == 403
        notices = loop.run_once()
        assert [(n.kind, n.key, n.phase) for n in notices] == [(AlertKind.SIGNATURE_FAILURES, PATH, "opened")]
        assert "4 request(s)" in notices[0].detail
        assert loop.run_once() == []
        text = request(base + "/metrics", method="GET").body.decode()
    assert metric(text, "sns_alerts_open", kind="signature_failures") == 1
    assert metric(text, "sns_alerts_open", kind="dead_letter") == 0
    outbox = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    for close in closers:
        close()


def test_metrics_show_delivery_lag_and_the_oldest_unclaimed_message(
    runtime: Runtime, sns_kit: SNSTestKit
) -> None:
    from sns_subscriber.service.app import create_app

    with serve_asgi(create_app(runtime, run_worker=True)) as base:
        fields = sns_kit.notification(TEST_TOPIC_ARN, "hello")
        assert request(base + PATH, body=sns_kit.body(fields), headers=sns_kit.headers(fields)).status == 200
        text = ""
        for _ in range(200):
            text = request(base + "/metrics", method="GET").body.decode()
            if metric(text, "sns_delivery_lag_seconds_count") == 1:
                break
            time.sleep(0.05)
    assert metric(text, "sns_delivery_lag_seconds_count") == 1
    assert metric(text, "sns_oldest_unclaimed_age_seconds") == 0  # processed: nothing waits
    assert "sns_store_bytes " in text


@pytest.mark.parametrize(
    ("alerts", "endpoint", "message"),
    [
        pytest.param({"to": ["pager:ops"]}, {}, "alerts.to entry must be", id="unknown-destination"),
        pytest.param({"to": ["slack:nowhere"]}, {}, "alerts.to entry must be", id="unknown-webhook"),
        pytest.param(
            {"to": ["email:ops@example.com\r\nBcc: x@y"]}, {}, "alerts.to entry", id="header-injection"
        ),
        pytest.param({"renotify_minutes": 0}, {}, "alerts.renotify_minutes must be > 0", id="zero-renotify"),
        pytest.param({}, {"expect_within": "soon"}, "expect_within: not a duration", id="bad-duration"),
        pytest.param({}, {"max_lag_seconds": -1}, "max_lag_seconds must be > 0", id="negative-lag"),
    ],
)
def test_alert_settings_are_validated(
    alerts: dict[str, object], endpoint: dict[str, object], message: str
) -> None:
    from sns_subscriber.exceptions import ConfigurationError

    data = {"alerts": alerts, "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN], **endpoint}]}
    with pytest.raises(ConfigurationError, match=message):
        load_config(data=data, environ={})


def test_alert_settings_from_the_configuration(tmp_path: Path) -> None:
    from sns_subscriber.service.alerting import start_alerting

    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "alerts": {"lag": False, "renotify_minutes": 30},
            "endpoints": [
                {"path": PATH, "topics": [TEST_TOPIC_ARN], "expect_within": "26h", "max_lag_seconds": 90}
            ],
        },
        environ={},
    )
    settings = alert_settings(config)
    assert AlertKind.LAG not in settings.enabled and AlertKind.SILENCE in settings.enabled
    assert settings.expect_within[PATH].total_seconds() == 26 * 3600
    assert settings.max_lag[PATH].total_seconds() == 90
    assert settings.renotify.total_seconds() == 1800
    runtime = build_runtime(config)
    try:
        assert start_alerting(runtime) is None  # no destination: nothing to evaluate for
    finally:
        runtime.close()


def test_alerts_reach_slack_and_webhook_destinations(tmp_path: Path) -> None:
    """The same alert, opened then resolved, posted to a Slack-format and a JSON webhook (a real
    HTTP server on 127.0.0.1): the Slack text carries the subject, the resolution says so."""
    from sns_subscriber.stores import open_store

    from .test_forwarding import Receiver

    with Receiver() as slack, Receiver() as hook:
        config = load_config(
            data={
                "alerts": {"to": ["slack:ops", "webhook:pager"]},
                "webhooks": [
                    {"name": "ops", "url": slack.url, "format": "slack"},
                    {"name": "pager", "url": hook.url},
                ],
                "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN]}],
            },
            environ={},
        )
        store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
        closers: list[Callable[[], None]] = []
        try:
            settings = alert_settings(config)
            evaluator = AlertEvaluator(store, settings, fan_out(destinations(config, closers)))
            store.add(message("d1"))
            store.claim("w", limit=1)
            store.fail("d1", "w", error="boom")
            assert [n.phase for n in evaluator.evaluate()] == ["opened"]
            store.replay("d1")
            assert [n.phase for n in evaluator.evaluate()] == ["resolved"]
        finally:
            store.close()
        texts = [json.loads(body)["text"] for _, body in slack.requests]
        assert len(texts) == 2
        assert "ALERT: dead letter: d1" in texts[0] and "RESOLVED: dead letter: d1" in texts[1]
        payloads = [json.loads(body) for _, body in hook.requests]
        assert [p["resolution"] for p in payloads] == [False, True]
        assert payloads[0]["subject"] == "[sns-subscriber] ALERT: dead letter: d1"
        assert "sns-subscriber inbox replay d1" in payloads[0]["message"]


def test_the_alert_loop_of_a_process_sends_on_its_own_and_stops_with_the_runtime(tmp_path: Path) -> None:
    from sns_subscriber.service.alerting import start_alerting

    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "email": {"backend": "file", "outbox_dir": str(tmp_path / "outbox")},
            "alerts": {"to": ["email:ops@example.com"], "evaluate_every_seconds": 0.05},
            "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN]}],
        },
        environ={},
    )
    runtime = build_runtime(config)
    try:
        runtime.store.add(message("d1"))
        runtime.store.claim("w", limit=1)
        runtime.store.fail("d1", "w", error="boom")
        loop = start_alerting(runtime)
        assert loop is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not list((tmp_path / "outbox").glob("*.eml")):
            time.sleep(0.05)
    finally:
        runtime.close()
    assert not loop._thread.is_alive()
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
