"""Fuzzing the HTTP surface: whatever a stranger sends (method, path, headers, body, sizes,
encodings), the answer is never a 500, nothing logs an error or a traceback, and a rejected
request leaves the store exactly as it was.

Two layers: the ASGI app called directly (any header bytes, any body chunking), and a real
`serve` process over raw sockets (what uvicorn's parsers do with the same input). Bounded:
a fixed number of examples per run, no per-example deadline flakiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import logging
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import Runtime, build_runtime
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.service import PATH, Served, serve_process

KIT = SNSTestKit()

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

# Mostly what SNS sends (POST to the endpoint), so most examples reach parsing and verifying.
METHODS = st.one_of(
    st.just("POST"),
    st.just("POST"),
    st.sampled_from(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_!", min_size=1, max_size=12),
)
PATHS = st.one_of(
    st.just(PATH),
    st.just(PATH),
    st.sampled_from([PATH + "/", "/healthz", "/readyz", "/metrics", "/", "/nope", "//sns"]),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789/._~-%", max_size=40).map(lambda p: "/" + p),
)
HEADER_NAMES = st.sampled_from(
    [
        "content-type",
        "content-encoding",
        "x-amz-sns-message-type",
        "x-amz-sns-message-id",
        "x-amz-sns-topic-arn",
        "x-amz-sns-rawdelivery",
        "x-amz-sns-subscription-arn",
        "authorization",
        "expect",
        "user-agent",
    ]
) | st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20)
HEADER_VALUES = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Random bytes, huge bodies, and signed SNS messages: intact, forged (a signed field
    changed), with a field of any JSON type or removed, re-encoded, or compressed."""
    kinds = [
        "bytes",
        "huge",
        "valid",
        "valid",
        "forged",
        "forged",
        "mutated",
        "dropped",
        "recoded",
        "gzip",
        "json",
    ]
    kind = draw(st.sampled_from(kinds))
    if kind == "bytes":
        return draw(st.binary(max_size=2048))
    if kind == "huge":
        cap = 1024 * 1024
        return b"{" * draw(st.sampled_from([cap, cap + 1, 3 * cap]) | st.integers(0, 3 * cap))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    fields: dict[str, Any] = KIT.notification(TEST_TOPIC_ARN, draw(st.text(max_size=200)))
    if kind == "forged":
        fields[draw(st.sampled_from(["Message", "Subject", "Timestamp", "MessageId"]))] = draw(
            st.text(max_size=40)
        )
    elif kind == "mutated":
        fields[draw(st.sampled_from(sorted(fields)))] = draw(JSON)
    elif kind == "dropped":
        del fields[draw(st.sampled_from(sorted(fields)))]
    body = json.dumps(fields).encode()
    if kind == "recoded":
        return json.dumps(fields).encode(draw(st.sampled_from(["utf-16", "utf-32", "latin-1"])), "replace")
    if kind == "gzip":
        return gzip.compress(body)
    return body


def sns_headers(body: bytes) -> list[tuple[str, str]]:
    """The x-amz-sns-* headers SNS would send with this body, from whatever fields it has."""
    try:
        fields = json.loads(body)
    except ValueError:
        return []
    if not isinstance(fields, dict):
        return []
    names = {
        "Type": "x-amz-sns-message-type",
        "MessageId": "x-amz-sns-message-id",
        "TopicArn": "x-amz-sns-topic-arn",
    }
    headers = [("content-type", "text/plain; charset=UTF-8")]
    headers += [(names[k], v) for k, v in fields.items() if k in names and isinstance(v, str) and v.isascii()]
    return headers


class _Errors(logging.Handler):
    """Collects every ERROR (or worse) record."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _store_state(runtime: Runtime) -> tuple[dict[Any, int], int]:
    return runtime.store.counts(), len(runtime.store.list_subscriptions())


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "service": {"body_timeout_seconds": 5.0},
            "verification": {"cert_dir": str(KIT.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN], "confirm": "manual"}],
        },
        environ={},
    )
    runtime = build_runtime(config)
    yield runtime
    runtime.close()


async def _call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "replace"),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    messages = messages or [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    assert len(statuses) == 1
    return statuses[0]


def test_fuzzed_requests_to_the_asgi_app_never_500_nor_touch_the_store_when_rejected(
    runtime: Runtime,
) -> None:
    """Whatever arrives, the ASGI app answers with a deliberate status (never 500, no error
    log), and any answer but 200 leaves the inbox and subscriptions unchanged."""
    from sns_subscriber.service.app import create_app

    app = create_app(runtime, run_worker=False)
    seen: set[int] = set()
    handler = _Errors()
    errors = handler.records
    logging.getLogger().addHandler(handler)

    valid = KIT.notification(TEST_TOPIC_ARN, "an example that must be accepted")
    forged = dict(KIT.notification(TEST_TOPIC_ARN, "signed"), Message="forged")
    plain: dict[str, Any] = {
        "extra": [],
        "splits": [],
        "declared": None,
        "chunked": False,
        "sns": True,
        "plausible": True,
    }

    @FUZZ
    @example(method="POST", path=PATH, body=KIT.body(valid), **plain)  # 200
    @example(method="POST", path=PATH, body=KIT.body(forged), **plain)  # 403
    @example(method="POST", path=PATH, body=b"{" * (2 * 1024 * 1024), **plain)  # 413
    @given(
        method=METHODS,
        path=PATHS,
        extra=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6),
        body=bodies(),
        splits=st.lists(st.integers(0, 4096), max_size=4),
        declared=st.one_of(st.none(), st.none(), st.integers(-5, 4 * 1024 * 1024).map(str), HEADER_VALUES),
        chunked=st.sampled_from([False, False, False, True]),
        sns=st.sampled_from([True, True, False]),
        plausible=st.booleans(),
    )
    def check(
        method: str,
        path: str,
        extra: list[tuple[str, str]],
        body: bytes,
        splits: list[int],
        declared: str | None,
        chunked: bool,
        sns: bool,
        plausible: bool,
    ) -> None:
        if plausible:  # half the examples look like SNS, so they reach parsing and verifying
            method, path, declared, chunked, sns = "POST", PATH, None, False, True
            extra = [(k, v) for k, v in extra if not k.startswith("x-amz-sns")]
        headers = (sns_headers(body) if sns else []) + extra
        if declared is not None:
            headers.append(("content-length", declared))
        if chunked:
            headers.append(("transfer-encoding", "chunked"))
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        cuts = sorted({s for s in splits if s < len(body)} | {0, len(body)})
        chunks = [body[a:b] for a, b in itertools.pairwise(cuts)]
        before = _store_state(runtime)
        status = asyncio.run(_call(app, method, path, raw, chunks))
        seen.add(status)
        assert status != 500
        assert 200 <= status < 600
        if status != 200 or path != PATH:
            assert _store_state(runtime) == before
        assert not errors, [r.getMessage() for r in errors]

    try:
        check()
    finally:
        logging.getLogger().removeHandler(handler)
    # The inputs reached every layer: accepted, malformed, forged, wrong method, too large.
    assert {200, 400, 403, 405, 413} <= seen, seen


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings_ = {"header_timeout_seconds": 1.0, "body_timeout_seconds": 1.0}
    with serve_process(tmp_path, KIT, settings_) as served:
        yield served


def _inbox_rows(served: Served) -> int:
    with contextlib.closing(sqlite3.connect(served.db)) as conn:
        rows: int = conn.execute(
            "SELECT (SELECT count(*) FROM inbox) + (SELECT count(*) FROM subscriptions)"
        ).fetchone()[0]
        return rows


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        # No half-close after sending: a server may treat it as the client leaving. The request
        # says "connection: close", and deadlines end any request the server finds incomplete.
        with contextlib.suppress(OSError):  # the server may answer and close before all is sent
            sock.sendall(raw)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def test_fuzzed_raw_requests_to_a_real_serve_never_500_nor_traceback(served: Served) -> None:
    """The same over real sockets through uvicorn's parser: malformed request lines, odd
    header bytes, duplicate or contradictory framing headers. Every answer is deliberate,
    the log has no traceback, and only accepted messages reach the inbox."""
    fuzz = settings(FUZZ, max_examples=120)
    seen: set[bytes] = set()
    valid = KIT.notification(TEST_TOPIC_ARN, "an example that must be accepted")
    forged = dict(KIT.notification(TEST_TOPIC_ARN, "signed"), Message="forged")
    plain = {
        "method": "POST",
        "path": PATH,
        "extra": [],
        "sns": True,
        "version": b"HTTP/1.1",
        "plausible": True,
    }

    @fuzz
    @example(body=KIT.body(valid), **plain)  # 200
    @example(body=KIT.body(forged), **plain)  # 403
    @given(
        method=METHODS,
        path=PATHS,
        extra=st.lists(
            st.tuples(HEADER_NAMES | st.sampled_from(["content-length", "transfer-encoding"]), HEADER_VALUES),
            max_size=5,
        ),
        body=bodies().filter(lambda b: len(b) < 1_500_000),
        sns=st.booleans(),
        version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 junk", b""]),
        plausible=st.booleans(),
    )
    def check(
        method: str,
        path: str,
        extra: list[tuple[str, str]],
        body: bytes,
        sns: bool,
        version: bytes,
        plausible: bool,
    ) -> None:
        if plausible:  # half the examples look like SNS, so they reach parsing and verifying
            method, path, sns, version = "POST", PATH, True, b"HTTP/1.1"
            extra = [(k, v) for k, v in extra if k.lower() not in ("content-length", "transfer-encoding")]
            extra = [(k, v) for k, v in extra if not k.startswith("x-amz-sns")]
        headers = [("host", "127.0.0.1"), ("connection", "close")]
        headers += (sns_headers(body) if sns else []) + extra
        if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in extra):
            headers.append(("content-length", str(len(body))))
        head = f"{method} {path} ".encode("latin-1", "replace") + version + b"\r\n"
        head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers) + b"\r\n"
        before = _inbox_rows(served)
        answer = _exchange(served.port, head + body)
        status_line = answer.split(b"\r\n", 1)[0]
        seen.add(status_line[9:12])
        assert b" 500 " not in status_line
        if not status_line.endswith(b" 200 OK") or path != PATH:
            assert _inbox_rows(served) == before

    check()
    assert {b"200", b"400", b"403"} <= seen, seen
    log = served.log_text()
    assert "Traceback" not in log
    assert " ERROR " not in log
