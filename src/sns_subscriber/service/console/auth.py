"""Who may use the console: the admin token, browser sessions and CSRF tokens.

API clients send ``Authorization: Bearer <token>``. Browsers log in once with the token and
get a session cookie instead, so the token is never stored by the browser nor put in a URL.
The cookie is ``<expiry>.<nonce>.<mac>``: an HMAC-SHA256, under a key derived from the token,
over the expiry and a random nonce. Nothing is kept on the server, so sessions survive
restarts and are shared by every console process with the same token; changing the token
ends them all. The CSRF token of a session is an HMAC of its nonce under the same key.
All comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["MIN_TOKEN_LENGTH", "ConsoleAuth", "Session"]

#: A shorter token could be guessed through the login form.
MIN_TOKEN_LENGTH: Final = 16
SESSION_COOKIE: Final = "sns_console_session"
LOGIN_COOKIE: Final = "sns_console_login"
_MAX_COOKIE: Final = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    expires: int


class ConsoleAuth:
    def __init__(self, token: str, *, session_seconds: float, clock: Callable[[], float] = time.time) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the console token must be at least {MIN_TOKEN_LENGTH} characters long")
        self._token_digest = hashlib.sha256(token.encode("utf-8")).digest()
        self._key = hmac.new(token.encode("utf-8"), b"sns-subscriber console session v1", "sha256").digest()
        self.session_seconds = int(session_seconds)
        self._clock = clock

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode("ascii"), "sha256").digest())

    # -- the token ---------------------------------------------------------------------------

    def token_matches(self, given: str) -> bool:
        # Digests have one length whatever was given: compare_digest then leaks nothing.
        candidate = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
        return hmac.compare_digest(candidate, self._token_digest)

    def bearer_ok(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    # -- sessions ----------------------------------------------------------------------------

    def new_session(self) -> str:
        expires = int(self._clock()) + self.session_seconds
        payload = f"{expires}.{secrets.token_urlsafe(18)}"
        return f"{payload}.{self._mac('session:' + payload)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie value proves, or None (absent, forged, malformed, expired)."""
        if not cookie or len(cookie) > _MAX_COOKIE or not cookie.isascii():
            return None
        payload, _, mac = cookie.rpartition(".")
        expires_text, _, nonce = payload.partition(".")
        if not (expires_text.isdigit() and nonce and mac):
            return None
        if not hmac.compare_digest(mac, self._mac("session:" + payload)):
            return None
        expires = int(expires_text)
        if expires <= self._clock():
            return None
        return Session(nonce, expires)

    # -- CSRF --------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf:" + session.nonce)

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        if not given or len(given) > _MAX_COOKIE or not given.isascii():
            return False
        return hmac.compare_digest(given, self.csrf_token(session))

    @staticmethod
    def login_nonce() -> str:
        """A fresh value for the login form's double-submit cookie and hidden field."""
        return secrets.token_urlsafe(18)

    @staticmethod
    def login_nonce_ok(cookie: str | None, field: str | None) -> bool:
        if not cookie or not field or len(cookie) > _MAX_COOKIE or not (cookie.isascii() and field.isascii()):
            return False
        return hmac.compare_digest(cookie, field)
