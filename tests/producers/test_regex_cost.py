"""Producer parsers do linear work on hostile text: no super-linear regex, no quadratic loop.

Issue 10, finding 3: the Budgets ``Key: value`` line pattern and the e-mail's unsubscribe-link
pattern took seconds on a 28-32 KB signed message (quadratic backtracking), holding the GIL,
so the whole process stalled. Every producer parser is fed a 256 KiB adversarial text built
to hit its patterns' worst cases, and its work is compared with the same text built at 1 KiB
and parsed 256 times (the same number of characters):

- deterministically, by the number of Python calls (``sys.setprofile``), which a quadratic
  Python loop would blow up;
- by CPU time (``time.process_time``, best of three) with a generous factor, because a
  regex backtracks inside C where no call is counted. A quadratic pattern is ~256 times
  slower than the baseline here, a linear one about as fast; the factor allows 10.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from sns_subscriber.actions.budget_email import budget_alert_context
from sns_subscriber.actions.owners import Recipient
from sns_subscriber.producers import BudgetAlert, detect_text

SMALL = 1024
BIG = 256 * 1024
SCALE = BIG // SMALL


def budgets(n: int) -> str:
    """A Budgets alert whose lines are the worst cases of each Budgets pattern."""
    r = n // 10
    return "".join(
        [
            "AWS Budget Notification March 3, 2026\n",
            "Budget Name: x" + " " * r + "x\n",  # lazy value + trailing-blank run
            "Budgeted Amount: " + "1." * (r // 2) + "\n",
            "Alert Threshold: > " + "USD " * (r // 4) + "\n",
            "Actual Amount: " + "1,234" * (r // 5) + "x\n",
            "alert you when the cost associated with your " * (r // 45) + "\n",
            ("AWS Account: " + " " * 40) * (r // 53) + "\n",
            "(1.1" * (r // 4) + "\n",
            "[1] https://" * (r // 12) + "\n",
            # The e-mail's link pattern: a long token of "http://" without the action, then a link.
            "http://" * (r // 7)
            + " https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x\n",
            "a" * (n - 10 * r),
        ]
    )


def _json(n: int, build: Callable[[int], dict[str, Any]]) -> str:
    data = build(n)
    data["Note"] = " \\" * max(0, (n - len(json.dumps(data))) // 3)  # escapes for the lenient scan
    text = json.dumps(data)
    return text[:-1] + ", }"  # a trailing comma: the lenient (character-by-character) path too


def cloudwatch(n: int) -> str:
    r = n // 4
    return _json(
        n,
        lambda _: {
            "AlarmName": "a",
            "NewStateValue": "ALARM",
            "AlarmArn": "arn:aws:cloudwatch:" + "a-" * (r // 2) + "x",
            "NewStateReason": " " * r + "x",
            "StateChangeTime": "2026-03-03T00:00:00.000+0000" + " " * 10,
            "Trigger": {"Dimensions": [{"name": "a", "value": "b"}] * (r // 30)},
        },
    )


def ses(n: int) -> str:
    r = n // 60
    return _json(
        n,
        lambda _: {
            "notificationType": "Bounce",
            "mail": {"destination": ["a@example.com"] * r, "timestamp": "x" * 100},
            "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "a@b"}] * r},
        },
    )


def s3(n: int) -> str:
    r = n // 4
    return _json(
        n,
        lambda _: {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "s3": {"object": {"key": "%2F+" * (r // 4)}, "bucket": {"name": "b"}},
                }
            ]
            + [{"eventSource": "aws:s3"}] * (r // 30)
        },
    )


def anomaly(n: int) -> str:
    r = n // 80
    return _json(
        n,
        lambda _: {
            "anomalyId": "x",
            "anomalyScore": {"maxScore": 1},
            "impact": {"totalImpact": 1},
            "rootCauses": [{"service": "s", "region": "r", "usageType": "u"}] * r,
        },
    )


def eventbridge(n: int) -> str:
    r = n // 4
    return _json(
        n,
        lambda _: {
            "source": "aws.health",
            "detail-type": "AWS Health Event",
            "resources": ["arn"] * (r // 8),
            "detail": {"eventDescription": [{"latestDescription": "a " * (r // 2)}]},
        },
    )


def unknown(n: int) -> str:
    return "{" + '[1, "a",' * (n // 8)  # not JSON, strictly or leniently


PARSERS: dict[str, tuple[str | None, Callable[[int], str]]] = {
    "budgets": ("budgets", budgets),
    "budgets-detected": (None, budgets),
    "cloudwatch": ("cloudwatch", cloudwatch),
    "ses": ("ses", ses),
    "s3": ("s3", s3),
    "cost-anomaly": ("cost-anomaly", anomaly),
    "eventbridge": ("eventbridge", eventbridge),
    "unknown": (None, unknown),
}


def _calls(work: Callable[[], object]) -> int:
    count = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def _cpu(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def assert_linear(small: Callable[[], object], big: Callable[[], object]) -> None:
    def baseline() -> None:
        for _ in range(SCALE):
            small()

    big_calls, base_calls = _calls(big), _calls(baseline)
    assert big_calls <= 2 * base_calls + 10_000, (big_calls, base_calls)
    big_cpu, base_cpu = _cpu(big), _cpu(baseline)
    assert big_cpu <= 10 * base_cpu + 0.05, (big_cpu, base_cpu)


@pytest.mark.parametrize("name", list(PARSERS))
def test_attack_adversarial_256_kib_text_costs_linear_work(name: str) -> None:
    producer, build = PARSERS[name]
    small_text, big_text = build(SMALL), build(BIG)
    assert len(big_text) >= BIG * 0.9
    assert type(detect_text(big_text, producer=producer)) is type(detect_text(small_text, producer=producer))
    assert_linear(
        lambda: detect_text(small_text, producer=producer), lambda: detect_text(big_text, producer=producer)
    )


def test_attack_budget_email_unsubscribe_link_removal_is_linear() -> None:
    """The e-mail removes unsubscribe links from the alert text it quotes: linear work too,
    and the links are still removed."""
    recipient = Recipient("owner@example.com")
    small = BudgetAlert(raw=budgets(SMALL))
    big = BudgetAlert(raw=budgets(BIG))
    assert "Action=Unsubscribe" not in budget_alert_context(big, recipient)["raw"]
    assert_linear(
        lambda: budget_alert_context(small, recipient), lambda: budget_alert_context(big, recipient)
    )
