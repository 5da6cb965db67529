"""The library's one outbound GET: certificates and confirmation URLs.

Built on ``http.client`` rather than ``urllib.request`` because we must never follow a
redirect: a 3xx from an SNS host is an answer, not an instruction. TLS is verified, bodies
are capped, every phase has a timeout, and environment proxies are not consulted.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from .exceptions import CertificateFetchError

__all__ = ["HTTPResponse", "fetch_certificate_pem", "https_get"]

try:
    _USER_AGENT = f"sns-subscriber/{version('sns-subscriber')}"
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _USER_AGENT = "sns-subscriber/0"

_DEFAULT_CONTEXT: ssl.SSLContext | None = None


def _default_context() -> ssl.SSLContext:
    global _DEFAULT_CONTEXT  # noqa: PLW0603 - built once; loading the CA store is slow
    if _DEFAULT_CONTEXT is None:
        _DEFAULT_CONTEXT = ssl.create_default_context()
    return _DEFAULT_CONTEXT


@dataclass(frozen=True, slots=True)
class HTTPResponse:
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
    """GET ``url`` once. Any status is returned (3xx included, never followed); network,
    TLS and size problems raise :class:`CertificateFetchError`.

    ``connect_to`` opens the TCP connection to another address while keeping the URL's host
    for TLS verification and the Host header (tests point real SNS host names at 127.0.0.1).
    """
    parts = urlsplit(url)
    if (
        parts.scheme not in ("https", "http")
        or (parts.scheme == "http" and not allow_http)
        or not parts.hostname
    ):
        raise CertificateFetchError("only https URLs are fetched", value=url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    deadline = time.monotonic() + timeout
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl_context or _default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    if connect_to is not None:
        connection.sock = None
        real_host, real_port = connect_to
        connection._create_connection = (  # type: ignore[attr-defined]
            lambda _address, *args, **kwargs: socket.create_connection(
                (real_host, real_port), *args, **kwargs
            )
        )
    try:
        connection.request("GET", target, headers={"User-Agent": _USER_AGENT, "Accept": "*/*"})
        response = connection.getresponse()
        declared = response.getheader("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise CertificateFetchError(
                f"response of {declared} bytes is over the {max_bytes}-byte cap", value=url
            )
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            if time.monotonic() > deadline:
                raise CertificateFetchError(f"no complete answer within {timeout} s", value=url)
            chunk = response.read1(max_bytes + 1 - size) if size < max_bytes + 1 else b""
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise CertificateFetchError(f"response is over the {max_bytes}-byte cap", value=url)
        headers = {name.lower(): value for name, value in response.getheaders()}
        return HTTPResponse(response.status, headers, b"".join(chunks))
    except CertificateFetchError:
        raise
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        reason = (
            "timed out" if isinstance(exc, TimeoutError | socket.timeout) else f"{type(exc).__name__}: {exc}"
        )
        raise CertificateFetchError(f"GET failed: {reason}", value=url) from exc
    finally:
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
    """The body of ``url`` if it answered 200; anything else (redirects included) raises
    :class:`CertificateFetchError`."""
    response = https_get(
        url,
        timeout=timeout,
        max_bytes=max_bytes,
        ssl_context=ssl_context,
        allow_http=allow_http,
        connect_to=connect_to,
    )
    if response.status != 200:
        raise CertificateFetchError(f"certificate URL answered HTTP {response.status}", value=url)
    return response.body
