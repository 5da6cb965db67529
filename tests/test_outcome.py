"""The answer body: exactly the small JSON object documented, whatever the strings hold."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sns_subscriber.outcome import Outcome


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
