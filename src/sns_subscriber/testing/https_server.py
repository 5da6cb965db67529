"""A real threaded HTTPS (or plain HTTP) server on 127.0.0.1 for tests and benchmarks, with a
throwaway CA (for testing code that fetches certificates or confirms subscriptions over HTTPS).

    ca = make_test_ca()
    with serve_https({"/cert.pem": (200, {}, pem)}, ca=ca) as server:
        fetch_certificate_pem(server.url + "/cert.pem", ssl_context=server.ssl_context())
        assert server.hits["/cert.pem"] == 1

A route is a ``Route``, a ``(status, headers, body)`` tuple, or a callable taking the
``Request`` and returning either. ``server.routes`` may be changed while it runs; unknown
paths answer 404. Every connection is closed after one response, each request is served in its
own thread (the TLS handshake too, so a stalled client never blocks the others), and leaving
the ``with`` block stops the server, wakes delayed routes and joins every thread.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import socket
import ssl
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "Answer",
    "CertificateAuthority",
    "Hits",
    "LocalServer",
    "Request",
    "Route",
    "RouteSpec",
    "ServerCertificate",
    "default_test_ca",
    "issue_server_cert",
    "make_test_ca",
    "serve_http",
    "serve_https",
    "silent_listener",
    "unused_port",
]

#: How long a server thread waits on a silent client before giving up (keeps shutdown bounded).
HANDLER_TIMEOUT = 5.0


# -- certificates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA and nothing else."""
        return ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))

    def issue(self, *names: str, not_after: dt.datetime | None = None) -> ServerCertificate:
        return issue_server_cert(self, *names, not_after=not_after)


@dataclass(frozen=True)
class ServerCertificate:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Python 3.11 loads a certificate chain from files only.
        with tempfile.TemporaryDirectory() as tmp:
            cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            cert_file.write_bytes(self.cert_pem)
            key_file.write_bytes(self.key_pem)
            context.load_cert_chain(cert_file, key_file)
        return context


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_test_ca(common_name: str = "sns-subscriber test CA") -> CertificateAuthority:
    """A fresh CA (EC P-256: generated in about a millisecond) valid from yesterday for a week.

    Its extensions satisfy OpenSSL's strict X.509 checks, so the same helper keeps working where
    ``VERIFY_X509_STRICT`` is on by default (Python 3.13+).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key, cert)


@functools.cache
def default_test_ca() -> CertificateAuthority:
    """One CA shared by every test of the session (its key never leaves the process)."""
    return make_test_ca()


def issue_server_cert(
    ca: CertificateAuthority, *names: str, not_after: dt.datetime | None = None
) -> ServerCertificate:
    """A TLS server certificate signed by ``ca`` for ``names`` (IP literals become IP SANs);
    by default for ``127.0.0.1`` and ``localhost``."""
    names = names or ("127.0.0.1", "localhost")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(not_after or now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return ServerCertificate(key, cert)


# -- routes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One canned answer.

    ``delay`` waits before the status line; a ``body`` given as a sequence of parts is sent
    part by part with ``part_delay`` between them (a slow or dripping server). ``chunked``
    uses chunked transfer encoding; ``content_length=False`` sends no length, so the body ends
    when the connection closes. A ``content-length`` in ``headers`` overrides the real one
    (a server that lies).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Sequence[bytes] = b""
    delay: float = 0.0
    part_delay: float = 0.0
    chunked: bool = False
    content_length: bool = True


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    target: str  # as sent on the request line
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    number: int  # 1 for the first request to this path, 2 for the second, ...


Answer = Route | tuple[int, Mapping[str, str], bytes]
RouteSpec = Answer | Callable[[Request], Answer]


def _resolve(spec: RouteSpec | None, request: Request) -> Route:
    if spec is None:
        return Route(404, {"content-type": "text/plain"}, b"not found")
    if callable(spec):
        spec = spec(request)
    if isinstance(spec, Route):
        return spec
    status, headers, body = spec
    return Route(status, headers, body)


class Hits:
    """Requests received per path (query excluded); safe to read while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def increment(self, path: str) -> int:
        with self._lock:
            self._counts[path] += 1
            return self._counts[path]

    def __getitem__(self, path: str) -> int:
        with self._lock:
            return self._counts[path]

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"Hits({self.snapshot()!r})"


# -- the server --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = HANDLER_TIMEOUT

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        # One response per connection keeps the client side simple and shutdown bounded.
        self.close_connection = True
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        number = self.server.hits.increment(path)
        request = Request(
            self.command,
            path,
            self.path,
            MappingProxyType({k.lower(): v for k, v in self.headers.items()}),
            body,
            number,
        )
        self.server.record(request)
        route = _resolve(self.server.routes.get(path), request)
        stopping = self.server.stopping
        if route.delay and stopping.wait(route.delay):
            return
        parts = [route.body] if isinstance(route.body, bytes) else list(route.body)
        self.send_response(route.status)
        given = {name.lower() for name in route.headers}
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif route.content_length and "content-length" not in given:
            self.send_header("Content-Length", str(sum(len(p) for p in parts)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        for index, part in enumerate(parts):
            if index and route.part_delay and stopping.wait(route.part_delay):
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if route.chunked else part)
        if route.chunked:
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output readable


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, joined by server_close(): nothing outlives the `with` block.
    daemon_threads = False
    block_on_close = True

    def __init__(self, routes: dict[str, RouteSpec], context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.context = context
        self.hits = Hits()
        self.stopping = threading.Event()
        self._requests: list[Request] = []
        self._requests_lock = threading.Lock()

    def record(self, request: Request) -> None:
        with self._requests_lock:
            self._requests.append(request)

    def requests(self) -> list[Request]:
        with self._requests_lock:
            return list(self._requests)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, in the connection's own thread, not in the accept loop.
        request.settimeout(HANDLER_TIMEOUT)
        tls = self.context.wrap_socket(request, server_side=True)
        try:
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out, reject our certificate or hang up are what the tests are about.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """What ``serve_https``/``serve_http`` yield."""

    def __init__(self, server: _Server, scheme: str, ca: CertificateAuthority | None) -> None:
        self._server = server
        self._ca = ca
        self.port: int = server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.routes = server.routes
        self.hits = server.hits

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in arrival order."""
        return self._server.requests()

    def url_for(self, path: str) -> str:
        return self.url + path

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the server's test CA (and nothing else)."""
        if self._ca is None:
            raise RuntimeError("a plain HTTP server has no certificate")
        return self._ca.client_context()


@contextmanager
def _serve(
    routes: Mapping[str, RouteSpec], context: ssl.SSLContext | None, ca: CertificateAuthority | None
) -> Iterator[LocalServer]:
    server = _Server(dict(routes), context)
    scheme = "http" if context is None else "https"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{scheme}-test-server", daemon=True
    )
    thread.start()
    try:
        yield LocalServer(server, scheme, ca)
    finally:
        server.stopping.set()
        server.shutdown()
        thread.join()
        server.server_close()


@contextmanager
def serve_https(
    routes: Mapping[str, RouteSpec],
    *,
    ca: CertificateAuthority | None = None,
    names: Sequence[str] = ("127.0.0.1", "localhost"),
    cert: ServerCertificate | None = None,
) -> Iterator[LocalServer]:
    """Serve ``routes`` over TLS with a certificate for ``names`` issued by ``ca`` (default:
    the session's shared test CA), or with ``cert`` as given."""
    ca = ca or default_test_ca()
    cert = cert or issue_server_cert(ca, *names)
    with _serve(routes, cert.server_context(), ca) as server:
        yield server


@contextmanager
def serve_http(routes: Mapping[str, RouteSpec]) -> Iterator[LocalServer]:
    """Serve ``routes`` over plain HTTP (for the explicitly allowed LocalStack case)."""
    with _serve(routes, None, None) as server:
        yield server


def unused_port() -> int:
    """A local port nothing listens on (for "connection refused"); racy but fine for tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes them) but never speaks:
    a client waiting for a TLS handshake or an answer hangs until its own timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]
