"""The answer body: exactly the small JSON object documented, whatever the strings hold."""

from __future__ import annotations

import json
import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sns_subscriber import exceptions
from sns_subscriber.outcome import Outcome, outcome_for_error


@given(
    result=st.text(min_size=1),
    detail=st.none() | st.text(),
    message_id=st.none() | st.text(),
)
def test_body_is_the_json_object_of_its_fields(
    result: str, detail: str | None, message_id: str | None
) -> None:
    body = Outcome(200, result, detail, message_id=message_id).body
    expected: dict[str, str] = {"result": result}
    if detail:
        expected["detail"] = detail
    if message_id:
        expected["message_id"] = message_id
    assert json.loads(body) == expected
    assert body == json.dumps(expected).encode()


def test_quotes_and_control_characters_cannot_break_out_of_the_body() -> None:
    body = Outcome(400, "malformed", 'x", "result": "accepted\n', message_id="id\\").body
    assert json.loads(body) == {
        "result": "malformed",
        "detail": 'x", "result": "accepted\n',
        "message_id": "id\\",
    }


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (exceptions.MalformedMessageError("bad json"), 400),
        (exceptions.UnsupportedMessageError("unknown Type"), 400),
        (exceptions.AuthenticationRequiredError("no credentials"), 401),
        (exceptions.InvalidSignatureError("forged"), 403),
        (exceptions.TopicNotAllowedError("not ours"), 403),
        (exceptions.MethodNotAllowedError("SNS delivers with POST"), 405),
        (exceptions.MessageTooLargeError("too big"), 413),
        (exceptions.StoreUnavailableError("disk full"), 503),
        (exceptions.CertificateFetchError("timeout"), 503),
        (RuntimeError("a bug"), 500),
    ],
)
def test_one_place_maps_every_error_to_its_status(error: BaseException, status: int) -> None:
    outcome = outcome_for_error(error)
    assert outcome.status == status
    assert ("www-authenticate" in outcome.headers) == (status == 401)
    assert (outcome.headers.get("allow") == "POST") == (status == 405)
    assert ("retry-after" in outcome.headers) == (status == 503)


def test_errors_are_immutable_and_with_context_returns_a_copy() -> None:
    """An error cached and raised for many requests (a failed certificate) cannot be changed
    by one of them: the context of one message must never leak into another's answer."""
    error = exceptions.InvalidCertificateError("bad certificate", value="https://x/y.pem")
    with pytest.raises(AttributeError, match="immutable"):
        error.message_id = "m-1"
    with_context = error.with_context(message_id="m-1", topic_arn="arn:t")
    assert (with_context.message_id, with_context.topic_arn, with_context.value) == (
        "m-1",
        "arn:t",
        error.value,
    )
    assert type(with_context) is type(error) and error.message_id is None
    assert error.with_context(message_id=None, topic_arn=None).replace(reason="new").args == ("new",)
    error.add_note("Python may still annotate it")  # dunder attributes stay writable


def test_the_drawn_tree_is_the_real_tree() -> None:
    """exceptions.py draws the tree in its docstring: every class, under its real parent."""
    doc = exceptions.__doc__ or ""
    drawn = re.findall(r"[│ ]*[├└]── (\w+)", doc)
    classes = {n for n in exceptions.__all__ if isinstance(getattr(exceptions, n), type)}
    assert set(drawn) == classes - {"SNSSubscriberError"}
    lines = [line for line in doc.splitlines() if "── " in line]
    for line in lines:
        depth = line.index("── ") // 4
        name = re.findall(r"── (\w+)", line)[0]
        # The parent is the nearest line above that is one level shallower.
        above = lines[: lines.index(line)]
        parents = [re.findall(r"── (\w+)", p)[0] for p in above if p.index("── ") // 4 == depth - 1]
        parent = parents[-1] if parents else "SNSSubscriberError"
        assert getattr(exceptions, parent) in getattr(exceptions, name).__mro__[1:], (name, parent)


def test_attack_a_junk_flood_cannot_fill_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Attack: anyone can POST junk as fast as they like; one log line per refusal would let a
    stranger decide how fast the disk fills. Lines over the budget are counted, not written."""
    from sns_subscriber import outcome as module

    now = [1000.0]
    budget = module.LogBudget(per_second=10, clock=lambda: now[0])
    monkeypatch.setattr(module, "REJECTION_LOG", budget)
    caplog.set_level(logging.INFO, logger="sns_subscriber")
    for _ in range(1000):
        assert outcome_for_error(exceptions.InvalidSignatureError("bad signature")).status == 403
    assert len([r for r in caplog.records if "rejected (403" in r.getMessage()]) == 10
    now[0] += 1.0
    caplog.clear()
    outcome_for_error(exceptions.InvalidSignatureError("bad signature"))
    [line] = [r.getMessage() for r in caplog.records]
    assert line.endswith("(990 similar line(s) held back)")
