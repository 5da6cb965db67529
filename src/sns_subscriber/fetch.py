"""The library's one outbound GET: certificates and confirmation URLs.

Built on ``http.client`` rather than ``urllib.request`` because we must never follow a
redirect: a 3xx from an SNS host is an answer, not an instruction (``tests/test_attacks.py``).
TLS is verified, bodies are capped, and ``timeout`` is a deadline for the whole exchange
(connect, TLS handshake, headers, body), so a server that drips bytes cannot hold us past it.
Environment proxies are never consulted: where the library connects is decided by its
arguments alone.

Not covered by the deadline: name resolution (``getaddrinfo`` cannot be interrupted).
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from .exceptions import CertificateFetchError

__all__ = ["HTTPResponse", "fetch_certificate_pem", "https_get"]

try:
    _USER_AGENT = f"sns-subscriber/{version('sns-subscriber')}"
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    _USER_AGENT = "sns-subscriber/0"

_DEFAULT_CONTEXT: ssl.SSLContext | None = None


def _default_context() -> ssl.SSLContext:
    # Loading the system CA store costs milliseconds: do it once, on first use, not at import.
    # SSLContext is safe to share between threads; a race only builds a spare one.
    global _DEFAULT_CONTEXT  # noqa: PLW0603
    if _DEFAULT_CONTEXT is None:
        _DEFAULT_CONTEXT = ssl.create_default_context()
    return _DEFAULT_CONTEXT


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """One answer, whatever its status. ``headers`` has lower-cased names; repeated headers
    are joined with ``", "``."""

    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


def https_get(
    url: str,
    *,
    timeout: float = 5.0,
    max_bytes: int = 16_384,
    ssl_context: ssl.SSLContext | None = None,
    allow_http: bool = False,
    connect_to: tuple[str, int] | None = None,
) -> HTTPResponse:
    """GET ``url`` once and return the answer, whatever its status (3xx included: never followed).

    Raises :class:`CertificateFetchError` (with ``value=url``) for everything that is not an
    HTTP answer: unusable URL, DNS/connect/TLS failure, the ``timeout`` deadline, a body over
    ``max_bytes`` (announced or actual), a truncated or malformed response.

    ``ssl_context`` replaces the default verifying context (``ssl.create_default_context()``).
    ``allow_http`` permits plain ``http://`` (a LocalStack host the caller explicitly trusts).
    ``connect_to`` opens the TCP connection to another address while the URL's host is still
    used for TLS verification (SNI, certificate name) and the Host header; tests use it to
    point real SNS host names at 127.0.0.1.
    """
    deadline = time.monotonic() + timeout
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CertificateFetchError(f"unusable URL: {exc}", value=url) from None
    if parts.scheme == "http" and not allow_http:
        raise CertificateFetchError("plain http is not allowed; only https URLs are fetched", value=url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CertificateFetchError("only https URLs are fetched", value=url)
    secure = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _Connection(
        parts.hostname,
        port if port is not None else (443 if secure else 80),
        deadline=deadline,
        context=(ssl_context or _default_context()) if secure else None,
        connect_to=connect_to,
    )
    response: http.client.HTTPResponse | None = None
    try:
        connection.request(
            "GET",
            target,
            headers={"User-Agent": _USER_AGENT, "Accept": "*/*", "Connection": "close"},
        )
        response = connection.getresponse()
        if response.length is not None and response.length > max_bytes:
            raise CertificateFetchError(
                f"response announces {response.length} bytes, over the {max_bytes}-byte cap", value=url
            )
        if response.length is not None:
            # A known length: read() raises IncompleteRead if the server sends less.
            body = response.read()
        else:
            # Chunked or delimited by close: take one byte more than allowed to detect excess.
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise CertificateFetchError(f"response is over the {max_bytes}-byte cap", value=url)
        headers: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return HTTPResponse(response.status, MappingProxyType(headers), body)
    except CertificateFetchError:
        raise
    except TimeoutError:
        raise CertificateFetchError(f"no complete answer within {timeout:g} s", value=url) from None
    except ssl.SSLCertVerificationError as exc:
        raise CertificateFetchError(
            f"TLS certificate not trusted: {exc.verify_message or exc.reason}", value=url
        ) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # ValueError: http.client refuses control characters in the target, for example.
        raise CertificateFetchError(f"GET failed: {type(exc).__name__}: {exc}", value=url) from exc
    finally:
        # The response owns the socket once the server announced it will close: close both.
        if response is not None:
            response.close()
        connection.close()


def fetch_certificate_pem(
    url: str,
    *,
    timeout: float = 5.0,
    max_bytes: int = 16_384,
    ssl_context: ssl.SSLContext | None = None,
    allow_http: bool = False,
    connect_to: tuple[str, int] | None = None,
) -> bytes:
    """The body of ``url`` if it answered 200; anything else, redirects included, raises
    :class:`CertificateFetchError` (a temporary failure: SNS will deliver again)."""
    response = https_get(
        url,
        timeout=timeout,
        max_bytes=max_bytes,
        ssl_context=ssl_context,
        allow_http=allow_http,
        connect_to=connect_to,
    )
    if response.status != 200:
        # Location is the server's text, headed for our logs: keep it bounded.
        where = response.headers.get("location", "")[:100]
        detail = f" (redirect to {where!r} not followed)" if 300 <= response.status < 400 and where else ""
        raise CertificateFetchError(f"certificate URL answered HTTP {response.status}{detail}", value=url)
    return response.body


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


class _Connection(http.client.HTTPConnection):
    """One request, plain or TLS, where every blocking step gets the time left to the deadline.

    ``http.client`` applies its timeout to each socket operation separately: a server sending a
    byte just before each timeout, or an address list tried one by one, would outlast it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        deadline: float,
        context: ssl.SSLContext | None,
        connect_to: tuple[str, int] | None,
    ) -> None:
        super().__init__(host, port, timeout=max(deadline - time.monotonic(), 0.001))
        self._deadline = deadline
        self._context = context
        self._connect_to = connect_to
        # The Host header omits the port only when it is the scheme's default.
        self.default_port = 443 if context is not None else 80
        self.response_class = _deadline_response(deadline)

    def connect(self) -> None:
        address = self._connect_to or (self.host, self.port)
        sock = socket.create_connection(address, _remaining(self._deadline))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock.settimeout(_remaining(self._deadline))
                # wrap_socket takes over the descriptor and closes it itself if the handshake fails.
                sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _deadline_response(deadline: float) -> type[http.client.HTTPResponse]:
    # http.client builds the response itself, from the socket alone; a class per connection is
    # the one place to hand it the deadline. Its cost is nothing next to a network round trip.
    class _DeadlineResponse(http.client.HTTPResponse):
        def __init__(
            self, sock: socket.socket, debuglevel: int = 0, method: str | None = None, url: str | None = None
        ) -> None:
            super().__init__(sock, debuglevel, method, url)
            # detach() keeps the SocketIO (and so the socket's reference count that lets the
            # connection hand the socket over to the response) without closing it.
            raw = self.fp.detach()
            self.fp = io.BufferedReader(_DeadlineReader(raw, sock, deadline))

    return _DeadlineResponse


class _DeadlineReader(io.RawIOBase):
    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        self._sock.settimeout(_remaining(self._deadline))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
