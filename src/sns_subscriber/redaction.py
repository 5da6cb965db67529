"""What may be shown to a person: URLs without their passwords, text without control codes.

:func:`redact_url` is used wherever a URL or database DSN is printed or logged (``doctor``,
start-up lines, store errors): ``postgresql://app:s3cret@db/inbox`` becomes
``postgresql://app:***@db/inbox``. :func:`terminal_safe` is used wherever a string that
came in a message (a Subject, a topic, an error text quoting one) is written to a terminal:
the sender chose those characters, and escape sequences can clear the screen, forge lines or
plant hyperlinks.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

__all__ = ["redact_url", "redact_urls_in", "terminal_safe"]

MASK: Final = "***"

#: ``password=...`` in a libpq keyword DSN or a URL query (``?password=...&sslpassword=...``).
_KEYWORD_PASSWORD: Final = re.compile(r"(?i)\b((?:ssl)?pass(?:word|wd)?\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]*)")
#: ``scheme://user:password@`` anywhere in a text; each part bounded, so the scan stays linear.
_URL_USERINFO: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s/@:]{0,256}:)[^\s/@]{1,1024}@")
#: C0 and C1 control characters except tab, DEL, and the Unicode bidirectional overrides
#: (they reorder what is displayed, so a line can read differently from what it says).
_UNPRINTABLE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def redact_url(url: str) -> str:
    """``url`` with any password hidden: the userinfo password, and ``password=`` both in a
    query string and in a keyword DSN (``host=db password=x``). Everything else is kept, so
    the operator can still tell which server is meant."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unparsable (an unbalanced "[", ...): fall back to the text patterns
        return redact_urls_in(url)
    if parts.password is not None:
        netloc = parts.netloc
        user = netloc.rpartition("@")[0].partition(":")[0]
        # The netloc is the first thing after "scheme://": replacing its first occurrence
        # leaves everything else (an empty netloc's "///", the path, the query) as it was.
        url = url.replace(netloc, f"{user}:{MASK}@{netloc.rpartition('@')[2]}", 1)
    return _KEYWORD_PASSWORD.sub(rf"\g<1>{MASK}", url)


def redact_urls_in(text: str) -> str:
    """Hide URL passwords anywhere in a free text (an error message that quotes a DSN)."""
    return _KEYWORD_PASSWORD.sub(rf"\g<1>{MASK}", _URL_USERINFO.sub(rf"\g<1>{MASK}@", text))


def terminal_safe(text: str | None) -> str:
    """``text`` on one line with every control character shown as an escape (``\\x1b``,
    ``\\r``, ``\\n``, ``\\u202e``) instead of being obeyed by the terminal."""
    if not text:
        return ""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
