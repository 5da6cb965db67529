"""The outbound GET port against a real TLS server on 127.0.0.1 (no socket mocks)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest

from sns_subscriber.exceptions import CertificateFetchError
from sns_subscriber.fetch import HTTPResponse, fetch_certificate_pem, https_get

from .support.https_server import (
    LocalServer,
    Route,
    RouteSpec,
    default_test_ca,
    make_test_ca,
    serve_http,
    serve_https,
    silent_listener,
    unused_port,
)

PEM = default_test_ca().cert_pem
ROUTES: dict[str, RouteSpec] = {
    "/cert.pem": (200, {"Content-Type": "application/x-pem-file"}, PEM),
    "/moved.pem": (301, {"Location": "/target.pem"}, b""),
    "/found.pem": (302, {"Location": "/target.pem"}, b""),
    "/target.pem": (200, {}, PEM),
    "/missing.pem": (404, {}, b"no such thing"),
    "/broken.pem": (500, {}, b"oops"),
    "/created.pem": (201, {}, PEM),
    "/chunked.pem": Route(body=[PEM[:100], PEM[100:]], chunked=True),
    "/unlimited.pem": Route(body=PEM, content_length=False),
    "/headers": (200, {"X-Mixed-Case": "yes", "Set-Cookie": "a=1"}, b"ok"),
}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with serve_https(ROUTES) as running:
        yield running


def get(server: LocalServer, path: str, **options: object) -> HTTPResponse:
    return https_get(server.url_for(path), ssl_context=server.ssl_context(), **options)  # type: ignore[arg-type]


def fetch(server: LocalServer, path: str, **options: object) -> bytes:
    return fetch_certificate_pem(server.url_for(path), ssl_context=server.ssl_context(), **options)  # type: ignore[arg-type]


# -- success ------------------------------------------------------------------------------------


def test_200_body_is_returned(server: LocalServer) -> None:
    assert fetch(server, "/cert.pem") == PEM


def test_response_headers_are_lower_cased(server: LocalServer) -> None:
    response = get(server, "/headers")
    assert response.status == 200
    assert response.headers["x-mixed-case"] == "yes"
    assert "X-Mixed-Case" not in response.headers
    assert response.body == b"ok"


@pytest.mark.parametrize("path", ["/chunked.pem", "/unlimited.pem"])
def test_bodies_without_content_length_are_read(server: LocalServer, path: str) -> None:
    assert fetch(server, path) == PEM


def test_request_identifies_the_library_and_asks_to_close(server: LocalServer) -> None:
    get(server, "/headers?probe=user-agent")
    sent = next(r for r in server.requests if r.target == "/headers?probe=user-agent")
    assert sent.headers["user-agent"] == f"sns-subscriber/{version('sns-subscriber')}"
    assert sent.headers["connection"] == "close"
    assert sent.method == "GET"


def test_query_string_is_sent(server: LocalServer) -> None:
    get(server, "/headers?Action=ConfirmSubscription&Token=t")
    assert any(r.target == "/headers?Action=ConfirmSubscription&Token=t" for r in server.requests)


# -- statuses: https_get answers, fetch_certificate_pem refuses -------------------------------


@pytest.mark.parametrize(("path", "status"), [("/moved.pem", 301), ("/found.pem", 302)])
def test_redirect_is_returned_not_followed(path: str, status: int) -> None:
    with serve_https(ROUTES) as fresh:
        response = get(fresh, path)
        assert response.status == status
        assert response.headers["location"] == "/target.pem"
        assert fresh.hits["/target.pem"] == 0


@pytest.mark.parametrize("path", ["/moved.pem", "/found.pem"])
def test_redirect_fails_the_certificate_fetch_and_the_target_is_never_requested(path: str) -> None:
    with serve_https(ROUTES) as fresh:
        with pytest.raises(CertificateFetchError, match=r"HTTP 30[12].*not followed") as caught:
            fetch(fresh, path)
        assert caught.value.value == fresh.url_for(path)
        assert fresh.hits[path] == 1
        assert fresh.hits["/target.pem"] == 0


@pytest.mark.parametrize(
    ("path", "status"), [("/missing.pem", 404), ("/broken.pem", 500), ("/created.pem", 201)]
)
def test_anything_but_200_fails_the_certificate_fetch(server: LocalServer, path: str, status: int) -> None:
    assert get(server, path).status == status
    with pytest.raises(CertificateFetchError, match=f"HTTP {status}") as caught:
        fetch(server, path)
    assert caught.value.value == server.url_for(path)


def test_unknown_path_is_a_404_from_the_helper(server: LocalServer) -> None:
    assert get(server, "/nothing-here").status == 404


# -- size cap -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route",
    [
        Route(body=b"x" * 5000),
        Route(body=b"x" * 5000, content_length=False),
        Route(body=[b"x" * 1000] * 5, chunked=True),
    ],
    ids=["content-length", "until-close", "chunked"],
)
def test_body_over_max_bytes_fails(route: Route) -> None:
    with serve_https({"/big.pem": route}) as fresh:
        with pytest.raises(CertificateFetchError, match="4096-byte cap"):
            fetch(fresh, "/big.pem", max_bytes=4096)
        # https_get refuses it too: the cap is the port's, not the caller's.
        with pytest.raises(CertificateFetchError, match="4096-byte cap"):
            get(fresh, "/big.pem", max_bytes=4096)


def test_body_of_exactly_max_bytes_is_accepted() -> None:
    routes = {
        "/exact": Route(body=b"x" * 4096),
        "/exact-close": Route(body=b"x" * 4096, content_length=False),
        "/exact-chunked": Route(body=[b"x" * 4000, b"x" * 96], chunked=True),
    }
    with serve_https(routes) as fresh:
        for path in routes:
            assert len(fetch(fresh, path, max_bytes=4096)) == 4096


def test_announced_length_over_the_cap_fails_before_the_body_is_read() -> None:
    # The server promises a gigabyte and sends a few bytes: we must not wait for the rest.
    route = Route(headers={"Content-Length": str(10**9)}, body=b"tiny")
    with serve_https({"/huge.pem": route}) as fresh:
        started = time.monotonic()
        with pytest.raises(CertificateFetchError, match="announces 1000000000 bytes"):
            fetch(fresh, "/huge.pem", timeout=3)
        assert time.monotonic() - started < 1


def test_truncated_body_fails() -> None:
    route = Route(headers={"Content-Length": "500"}, body=b"only a part")
    with (
        serve_https({"/cut.pem": route}) as fresh,
        pytest.raises(CertificateFetchError, match="IncompleteRead"),
    ):
        fetch(fresh, "/cut.pem")


# -- time -----------------------------------------------------------------------------------------


def test_slow_server_times_out_quickly() -> None:
    with serve_https({"/slow.pem": Route(body=PEM, delay=5)}) as fresh:
        started = time.monotonic()
        with pytest.raises(CertificateFetchError, match=r"within 0\.3 s"):
            fetch(fresh, "/slow.pem", timeout=0.3)
        assert time.monotonic() - started < 1.0


def test_timeout_is_a_deadline_for_the_whole_exchange() -> None:
    # Each part arrives well within the timeout; all of them together do not.
    drip = Route(body=[b"x"] * 40, part_delay=0.1)
    with serve_https({"/drip.pem": drip}) as fresh:
        started = time.monotonic()
        with pytest.raises(CertificateFetchError, match="within"):
            fetch(fresh, "/drip.pem", timeout=0.5)
        assert time.monotonic() - started < 1.0


def test_silent_peer_times_out_during_the_tls_handshake() -> None:
    with silent_listener() as port:
        started = time.monotonic()
        with pytest.raises(CertificateFetchError, match="within"):
            fetch_certificate_pem(
                f"https://127.0.0.1:{port}/cert.pem",
                timeout=0.3,
                ssl_context=default_test_ca().client_context(),
            )
        assert time.monotonic() - started < 1.0


# -- TLS ------------------------------------------------------------------------------------------


def test_untrusted_certificate_with_the_default_context_fails(server: LocalServer) -> None:
    before = server.hits["/cert.pem"]
    with pytest.raises(CertificateFetchError, match="TLS certificate not trusted"):
        fetch_certificate_pem(server.url_for("/cert.pem"))
    assert server.hits["/cert.pem"] == before  # the request never left the handshake


def test_context_trusting_another_ca_fails(server: LocalServer) -> None:
    other = make_test_ca("someone else's CA").client_context()
    with pytest.raises(CertificateFetchError, match="TLS certificate not trusted"):
        fetch_certificate_pem(server.url_for("/cert.pem"), ssl_context=other)


def test_certificate_for_another_name_fails() -> None:
    with serve_https(ROUTES, names=("sns.us-east-1.amazonaws.com",)) as fresh:
        with pytest.raises(CertificateFetchError, match="TLS certificate not trusted"):
            fetch(fresh, "/cert.pem")
        assert fresh.hits.total() == 0


def test_expired_server_certificate_fails() -> None:
    ca = default_test_ca()
    cert = ca.issue("127.0.0.1", not_after=datetime.now(UTC) - timedelta(minutes=1))
    with (
        serve_https(ROUTES, ca=ca, cert=cert) as fresh,
        pytest.raises(CertificateFetchError, match="expired"),
    ):
        fetch(fresh, "/cert.pem")


def test_connect_to_keeps_the_url_host_for_tls_and_host_header() -> None:
    host = "sns.us-east-1.amazonaws.com"
    with serve_https(ROUTES, names=(host,)) as fresh:
        body = fetch_certificate_pem(
            f"https://{host}/cert.pem", ssl_context=fresh.ssl_context(), connect_to=("127.0.0.1", fresh.port)
        )
        assert body == PEM
        assert fresh.requests[0].headers["host"] == host


def test_https_client_against_a_plain_http_server_fails() -> None:
    with serve_http(ROUTES) as plain, pytest.raises(CertificateFetchError, match="GET failed"):
        fetch_certificate_pem(f"https://127.0.0.1:{plain.port}/cert.pem", timeout=2)


# -- network and URL errors -------------------------------------------------------------------------


def test_connection_refused_fails() -> None:
    url = f"https://127.0.0.1:{unused_port()}/cert.pem"
    with pytest.raises(CertificateFetchError, match="ConnectionRefusedError") as caught:
        fetch_certificate_pem(url, timeout=2)
    assert caught.value.value == url


def test_plain_http_is_refused_without_a_connection() -> None:
    with serve_http(ROUTES) as plain:
        with pytest.raises(CertificateFetchError, match="plain http is not allowed"):
            fetch_certificate_pem(plain.url_for("/cert.pem"))
        with pytest.raises(CertificateFetchError, match="plain http is not allowed"):
            https_get(plain.url_for("/cert.pem"))
        assert plain.hits.total() == 0


def test_plain_http_is_fetched_when_allowed() -> None:
    with serve_http(ROUTES) as plain:
        assert fetch_certificate_pem(plain.url_for("/cert.pem"), allow_http=True) == PEM
        assert https_get(plain.url_for("/moved.pem"), allow_http=True).status == 301
        assert plain.hits["/target.pem"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/cert.pem",
        "file:///etc/passwd",
        "https:///no-host.pem",
        "https://127.0.0.1:99999/cert.pem",
        "https://[::1/cert.pem",
        "/relative.pem",
    ],
)
def test_unusable_urls_fail_without_a_connection(url: str) -> None:
    with pytest.raises(CertificateFetchError) as caught:
        https_get(url, allow_http=True)
    assert caught.value.value == url


def test_control_characters_in_the_target_fail(server: LocalServer) -> None:
    with pytest.raises(CertificateFetchError):
        https_get(server.url_for("/cert.pem\r\nX-Injected: 1"), ssl_context=server.ssl_context())


def test_environment_proxies_are_ignored(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{unused_port()}"
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    assert fetch(server, "/cert.pem") == PEM


def test_fetch_error_is_a_temporary_failure(server: LocalServer) -> None:
    from sns_subscriber.exceptions import TemporaryFailureError

    with pytest.raises(TemporaryFailureError):
        fetch(server, "/broken.pem")


def test_default_context_is_verifying() -> None:
    from sns_subscriber import fetch as module

    context = module._default_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert module._default_context() is context
