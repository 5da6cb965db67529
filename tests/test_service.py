"""The service app as deployed: health, readiness and the Prometheus metrics it promises."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import Runtime, build_runtime
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.servers import request, serve_asgi

PATH = "/sns"


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def runtime(tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[Runtime]:
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "verification": {"cert_dir": str(sns_kit.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "worker": {"poll_interval_seconds": 0.05},
            "endpoints": [
                {"path": PATH, "topics": [TEST_TOPIC_ARN], "confirm": "manual", "actions": ["log"]}
            ],
        },
        environ={},
    )
    runtime = build_runtime(config)
    yield runtime
    runtime.close()


@pytest.fixture
def base(runtime: Runtime) -> Iterator[str]:
    from sns_subscriber.service.app import create_app

    with serve_asgi(create_app(runtime, run_worker=True)) as url:
        yield url


def post(base: str, kit: SNSTestKit, fields: dict[str, str]) -> int:
    return request(base + PATH, body=kit.body(fields), headers=kit.headers(fields)).status


def test_health_and_readiness(base: str) -> None:
    assert request(base + "/healthz", method="GET").status == 200
    ready = request(base + "/readyz", method="GET")
    assert (ready.status, b'"ready"' in ready.body) == (200, True)


def test_metrics_count_what_happened(base: str, sns_kit: SNSTestKit) -> None:
    fields = sns_kit.notification(TEST_TOPIC_ARN, "metrics")
    forged = dict(fields, Message="forged", MessageId="f0f0f0f0-0000-4000-8000-000000000001")
    assert [post(base, sns_kit, f) for f in (fields, fields, forged)] == [200, 200, 403]
    assert post(base, sns_kit, sns_kit.subscription_confirmation(TEST_TOPIC_ARN)) == 200

    deadline = time.monotonic() + 20
    while True:
        text = request(base + "/metrics", method="GET").body.decode()
        # Inbox counts are cached for a few seconds: wait for a reading after the worker's.
        done = metric(text, "sns_worker_results_total", result="done") == 1
        if (done and metric(text, "sns_inbox_messages", status="done") == 1) or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    def requests(result: str, status: str) -> float:
        return metric(text, "sns_requests_total", endpoint=PATH, result=result, status=status)

    assert requests("accepted", "200") == 1
    assert requests("duplicate", "200") == 1
    assert requests("pending", "200") == 1
    assert requests("invalid_signature", "403") == 1
    assert metric(text, "sns_verify_seconds_count", endpoint=PATH) == 4  # the forged one included
    assert metric(text, "sns_handle_seconds_count", endpoint=PATH) == 4
    assert metric(text, "sns_worker_results_total", result="done") == 1
    assert metric(text, "sns_action_results_total", action=f"{PATH}:log", result="ok") == 1
    assert metric(text, "sns_inbox_messages", status="done") == 1


def test_readiness_fails_when_the_store_is_gone(runtime: Runtime, base: str) -> None:
    runtime.store.close()
    reply = request(base + "/readyz", method="GET")
    assert reply.status == 503
    assert b"unavailable" in reply.body
