"""The one ASGI endpoint behind the service and the Starlette adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.integrations.asgi import SNSEndpoint
from sns_subscriber.stores import InboxStore
from sns_subscriber.subscriber import AsyncSubscriber
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit
from sns_subscriber.verification import AsyncVerifier, VerificationPolicy

from .support.pipeline import sqlite_store

PATH = "/sns"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    store = sqlite_store(tmp_path)
    yield store
    store.close()


@pytest.fixture
def subscriber(store: InboxStore, sns_kit: SNSTestKit, tmp_path: Path) -> AsyncSubscriber:
    cert_dir = sns_kit.write_cert_dir(tmp_path / "certs")
    policy = VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,))
    return AsyncSubscriber(AsyncVerifier(policy, cert_dir=cert_dir, fetch=False), store, endpoint=PATH)


def call(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes], *, stall: bool = False
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Run one request through an ASGI app; ``chunks`` are the body's receive() messages
    (with ``stall``, the client then stops sending before the end of the body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    messages = [
        {"type": "http.request", "body": c, "more_body": stall or i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that stopped sending
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def test_the_service_and_the_starlette_route_share_one_endpoint_object(
    subscriber: AsyncSubscriber, tmp_path: Path, sns_kit: SNSTestKit
) -> None:
    """One body reader and one size check: the Starlette adapter's route is an SNSEndpoint,
    and the service's front and its Starlette routes serve the very same endpoint objects."""
    from starlette.routing import Route

    from sns_subscriber.integrations.starlette import sns_route
    from sns_subscriber.service.app import create_app
    from sns_subscriber.service.config import load_config
    from sns_subscriber.service.runtime import build_runtime

    route = sns_route(subscriber)
    assert isinstance(route.endpoint, SNSEndpoint)
    assert route.endpoint.subscriber is subscriber

    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'service.db'}"},
            "verification": {"cert_dir": str(sns_kit.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN]}],
        },
        environ={},
    )
    runtime = build_runtime(config)
    try:
        front = create_app(runtime, run_worker=False)
        endpoint = front.endpoints[PATH]
        assert isinstance(endpoint, SNSEndpoint)
        assert endpoint.subscriber is runtime.async_subscribers[PATH]
        routes = [r for r in front.app.routes if isinstance(r, Route) and r.path == PATH]  # type: ignore[attr-defined]
        assert [r.endpoint for r in routes] == [endpoint]
    finally:
        runtime.close()


def test_a_content_length_of_thousands_of_digits_is_413_not_500(subscriber: AsyncSubscriber) -> None:
    """Python refuses int() of more than 4300 digits with ValueError: a declared length of
    5000 digits made the size check itself raise (a 500). It is over any cap: 413."""
    status, _, body = call(SNSEndpoint(subscriber), [(b"content-length", b"9" * 5000)], [b"{}"])
    assert (status, b'"too_large"' in body) == (413, True)


def test_a_non_ascii_digit_content_length_is_not_a_500(subscriber: AsyncSubscriber) -> None:
    """ "²".isdigit() is true but int("²") raises: a Latin-1 superscript in Content-Length
    (a server other than uvicorn may pass it on) must not crash the size check."""
    status, _, _ = call(SNSEndpoint(subscriber), [(b"content-length", "²".encode("latin-1"))], [b"{}"])
    assert status == 400


def test_a_stalled_body_is_answered_408_with_connection_close(
    subscriber: AsyncSubscriber, store: InboxStore
) -> None:
    status, headers, body = call(SNSEndpoint(subscriber, body_timeout=0.05), [], [b'{"Type": '], stall=True)
    assert status == 408
    assert headers[b"connection"] == b"close"
    assert b'"request_timeout"' in body
    assert sum(store.counts().values()) == 0


def test_content_length_with_transfer_encoding_is_refused_by_the_endpoint_itself(
    subscriber: AsyncSubscriber, sns_kit: SNSTestKit, store: InboxStore
) -> None:
    """The adapter inside a server that passes both framing headers on (h11 does) still
    refuses the request and asks for the connection to be closed."""
    fields = sns_kit.notification(TEST_TOPIC_ARN, "framed twice")
    headers = [(k.lower().encode(), v.encode()) for k, v in sns_kit.headers(fields).items()]
    headers += [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]
    status, response_headers, _ = call(SNSEndpoint(subscriber), headers, [sns_kit.body(fields)])
    assert (status, response_headers[b"connection"]) == (400, b"close")
    assert sum(store.counts().values()) == 0
