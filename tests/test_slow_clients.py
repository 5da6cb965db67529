"""Slow and ambiguous clients against a real `serve` process, over real sockets.

Each test states the attack it stops. Deadlines are configured short (fractions of a second)
so the tests are quick; nothing asserts how long anything took: a test that would hang before
the fix fails on its socket timeout instead.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.servers import request
from .support.service import PATH, Served, serve_process

#: How long a test waits for the server to act before calling it hung (never a pass condition).
PATIENCE = 20.0

FAST = {"header_timeout_seconds": 0.5, "body_timeout_seconds": 0.5}


_OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def connect(port: int) -> socket.socket:
    """A client connection, closed at the end of the test."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    _OPEN.append(sock)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def stored(served: Served) -> int:
    with contextlib.closing(sqlite3.connect(served.db)) as conn:
        count: int = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
        return count


def deliver(served: Served, kit: SNSTestKit, text: str) -> int:
    fields = kit.notification(TEST_TOPIC_ARN, text)
    return request(
        served.url + PATH, body=kit.body(fields), headers=kit.headers(fields), timeout=PATIENCE
    ).status


@pytest.fixture(params=["h11", "httptools"])
def served(request: pytest.FixtureRequest, tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[Served]:
    with serve_process(tmp_path, sns_kit, {**FAST, "http": request.param}) as served:
        yield served


def test_slowloris_headers_are_cut_off_at_the_header_deadline(served: Served, sns_kit: SNSTestKit) -> None:
    """Slowloris: a client sends part of a request head and then a byte now and then, so a
    connection (and a file descriptor) is held for ever. The header deadline answers 408 and
    closes it; an idle connection that sent nothing is closed too."""
    slow = connect(served.port)
    idle = connect(served.port)
    slow.sendall(b"POST /sns HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    slow.sendall(b"X-Slow: 1\r\n")  # more bytes, never the blank line that ends the head
    answer = read_until_closed(slow)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert read_until_closed(idle) == b""
    assert deliver(served, sns_kit, "after the slow clients") == 200


def test_a_half_sent_body_gets_408_and_the_connection_closed(served: Served, sns_kit: SNSTestKit) -> None:
    """A client that sends its headers and part of the body, then stalls, holds a request
    task and a connection: the body deadline answers 408, closes, and stores nothing."""
    fields = sns_kit.notification(TEST_TOPIC_ARN, "half")
    body = sns_kit.body(fields)
    head = "".join(f"{k}: {v}\r\n" for k, v in sns_kit.headers(fields).items())
    sock = connect(served.port)
    sock.sendall(
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
        + body[: len(body) // 2]
    )
    answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"request_timeout"' in answer
    assert b"connection: close" in answer.lower()
    assert stored(served) == 0
    assert "Traceback" not in served.log_text()


def test_many_idle_connections_do_not_stop_a_valid_delivery(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    """File-descriptor exhaustion: a stranger opens connections and sends nothing (or half a
    request head) until the server cannot accept any more, so SNS cannot connect. With a
    descriptor limit of 96, 150 idle connections would exhaust it; the connection cap (40,
    lowered at start to what the limit leaves room for) closes the oldest idle ones instead,
    and a real delivery still gets through."""
    settings = {"max_connections": 40, "header_timeout_seconds": 60.0}
    with serve_process(tmp_path, sns_kit, settings, max_open_files=96) as served:
        for i in range(150):
            sock = connect(served.port)
            if i % 2:
                sock.sendall(b"POST /sns HTTP/1.1\r\n")
        assert deliver(served, sns_kit, "through the crowd") == 200
        assert stored(served) == 1
        log = served.log_text()
        assert "Too many open files" not in log
        assert "does not fit the open-file limit 96" in log


@pytest.mark.parametrize("path", [PATH, "/healthz"])
def test_content_length_with_transfer_encoding_is_refused_and_closed(served: Served, path: str) -> None:
    """Request smuggling: with both Content-Length and Transfer-Encoding a proxy and this
    server may frame the body differently, and the bytes one treats as body the other treats
    as the next request. RFC 9112 section 6.3: treat it as an error and close the connection,
    so a smuggled second request is never served."""
    sock = connect(served.port)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    )
    answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.count(b"HTTP/1.1 ") == 1  # the smuggled GET was not answered
    assert stored(served) == 0


def test_endless_request_headers_are_refused_and_the_connection_closed(
    served: Served, sns_kit: SNSTestKit
) -> None:
    """Memory exhaustion through headers: httptools keeps every header line of a request head
    that never ends (40 MB were held for one connection). Past 32 KiB the head is refused
    (431 with httptools, 400 from h11's own limit) and the connection closed."""
    sock = connect(served.port)
    sock.sendall(b"POST /sns HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    line = b"X-Padding: " + b"a" * 8000 + b"\r\n"
    with contextlib.suppress(OSError):  # the server closes while we are still sending
        for _ in range(1000):  # 8 MB, far past any sensible head
            sock.sendall(line)
    answer = read_until_closed(sock)
    assert answer.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 "))
    assert deliver(served, sns_kit, "after the endless head") == 200
