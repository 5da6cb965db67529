"""Log lines cannot be forged by text inside messages."""

from __future__ import annotations

import json
import logging

from sns_subscriber.service.logs import JSONFormatter, TextFormatter


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("sns_subscriber.worker", logging.WARNING, __file__, 1, message, args, None)


def test_text_logs_escape_line_breaks_and_escape_sequences_from_message_text() -> None:
    """Attack: a budget name or alarm reason holding "\\n... ERROR ..." or ESC[2J, quoted in a
    handler's error, would add a forged line to the log (or clear the operator's screen)."""
    hostile = "team-a\n2026-12-03 10:00:00 ERROR sns_subscriber: all alerts lost\x1b[2J\r"
    line = TextFormatter().format(record("handler failed for budget %s", hostile))
    assert "\n" not in line and "\x1b" not in line and "\r" not in line
    assert line.endswith(
        "handler failed for budget team-a\\x0a2026-12-03 10:00:00 ERROR sns_subscriber: all alerts lost\\x1b[2J\\x0d"
    )


def test_json_logs_keep_the_text_as_one_escaped_field() -> None:
    hostile = "a\nb\x1b[2J"
    line = JSONFormatter().format(record("budget %s", hostile))
    assert "\n" not in line
    assert json.loads(line)["message"] == "budget a\nb\x1b[2J"
