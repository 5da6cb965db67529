"""Secrets never shown, control codes never obeyed: the helpers every printer and logger uses."""

from __future__ import annotations

import pytest

from sns_subscriber.redaction import redact_url, redact_urls_in, terminal_safe


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db.internal:5432/inbox", "postgresql://app:***@db.internal:5432/inbox"),
        ("postgres://app:p%40ss:w@db/inbox", "postgres://app:***@db/inbox"),
        ("postgresql://app@db/inbox", "postgresql://app@db/inbox"),
        (
            "postgresql://db/inbox?user=app&password=s3cret&sslmode=require",
            "postgresql://db/inbox?user=app&password=***&sslmode=require",
        ),
        ("postgresql://db/inbox?sslpassword=s3cret", "postgresql://db/inbox?sslpassword=***"),
        ("host=db user=app password=s3cret dbname=inbox", "host=db user=app password=*** dbname=inbox"),
        ("host=db password='s3 cret' dbname=inbox", "host=db password=*** dbname=inbox"),
        ("sqlite:////var/lib/sns/inbox.db", "sqlite:////var/lib/sns/inbox.db"),
        ("sqlite:///relative/inbox.db", "sqlite:///relative/inbox.db"),
        ("https://user:token@hooks.example.com/x", "https://user:***@hooks.example.com/x"),
        ("postgresql://app:s3cret@[::1/inbox", "postgresql://app:***@[::1/inbox"),
    ],
)
def test_redact_url_hides_every_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url) and "s3 cret" not in redact_url(url)


def test_redact_urls_in_free_text() -> None:
    text = 'connection to "postgresql://app:s3cret@db/inbox" failed; retry with host=db password=s3cret'
    assert (
        redact_urls_in(text)
        == 'connection to "postgresql://app:***@db/inbox" failed; retry with host=db password=***'
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("budget \x1b[2J alert", "budget \\x1b[2J alert"),
        (
            "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
            "\\x1b]8;;https://evil.example/\\x07click\\x1b]8;;\\x07",
        ),
        ("real\rFAKE LINE", "real\\x0dFAKE LINE"),
        ("two\nlines", "two\\x0alines"),
        ("\x9b2J C1 CSI", "\\x9b2J C1 CSI"),
        ("abc\u202eevil", "abc\\u202eevil"),
        ("tab\tand ünïcode €", "tab\tand ünïcode €"),
        (None, ""),
    ],
)
def test_terminal_safe_neutralises_control_codes(text: str | None, shown: str) -> None:
    assert terminal_safe(text) == shown
