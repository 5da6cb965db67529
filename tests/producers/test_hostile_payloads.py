"""Hostile producer payloads are values, never tracebacks.

Strings inside signed producer messages are chosen by whoever can publish to the topic (or by
the people an AWS event describes). A JSON payload nested a few hundred levels deep made the
parsers recurse into a RecursionError, logged with a traceback for every such message.
"""

from __future__ import annotations

import logging

import pytest

from sns_subscriber.producers import PRODUCERS, UnknownPayload, detect_text

# Each producer's recognised keys, with DEEP where a nested value goes.
SHAPES = {
    "cloudwatch": '{"AlarmName": "a", "NewStateValue": "ALARM", "Trigger": DEEP}',
    "ses": '{"notificationType": "Bounce", "mail": DEEP}',
    "s3": '{"Records": [{"eventSource": "aws:s3", "s3": DEEP}]}',
    "cost-anomaly": '{"anomalyId": "x", "anomalyScore": DEEP, "impact": {}}',
    "eventbridge": '{"source": "aws.health", "detail-type": "AWS Health Event", "detail": DEEP}',
}


def _deep(depth: int) -> str:
    """JSON text nested ``depth`` levels (built as text: json.dumps itself would recurse)."""
    return '{"a": [' * depth + '"bottom"' + "]}" * depth


@pytest.mark.parametrize("producer", [p for p in PRODUCERS if p != "budgets"])
@pytest.mark.parametrize("depth", [300, 600])
def test_attack_deeply_nested_payload_is_unknown_without_a_traceback(
    producer: str, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    text = SHAPES[producer].replace("DEEP", _deep(depth))
    caplog.set_level(logging.DEBUG)
    for forced in (producer, None):
        event = detect_text(text, producer=forced)
        assert isinstance(event, UnknownPayload)
        assert event.raw == text
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("producer", [p for p in PRODUCERS if p != "budgets"])
def test_ordinary_nesting_is_still_read(producer: str) -> None:
    event = detect_text(SHAPES[producer].replace("DEEP", _deep(20)), producer=producer)
    assert not isinstance(event, UnknownPayload)
