"""One contract, every way of serving it: Flask, Starlette, FastAPI, Django and the service."""

from __future__ import annotations

import http.client
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sns_subscriber.routing import Router
from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import Runtime
from sns_subscriber.stores import InboxStatus, InboxStore
from sns_subscriber.subscriber import AsyncSubscriber, Subscriber
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.pipeline import sqlite_store
from .support.servers import request, serve_asgi, serve_wsgi

PATH = "/sns"


def _subscribers(kit: SNSTestKit, store: InboxStore, cert_dir: Path) -> tuple[Subscriber, AsyncSubscriber]:
    from sns_subscriber.verification import AsyncVerifier, VerificationPolicy, Verifier

    kit.write_cert_dir(cert_dir)
    policy = VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,))
    return (
        Subscriber(Verifier(policy, cert_dir=cert_dir, fetch=False), store, endpoint=PATH),
        AsyncSubscriber(AsyncVerifier(policy, cert_dir=cert_dir, fetch=False), store, endpoint=PATH),
    )


def flask_server(sync: Subscriber, _: AsyncSubscriber, __: Path) -> AbstractContextManager[str]:
    from flask import Flask

    from sns_subscriber.integrations.flask import sns_endpoint

    app = Flask("contract")
    app.add_url_rule(
        PATH, view_func=sns_endpoint(sync, Router())(lambda delivery: None), methods=["GET", "POST"]
    )
    return serve_wsgi(app)


def starlette_server(_: Subscriber, async_sub: AsyncSubscriber, __: Path) -> AbstractContextManager[str]:
    from starlette.applications import Starlette

    from sns_subscriber.integrations.starlette import sns_route

    return serve_asgi(Starlette(routes=[sns_route(async_sub)]))


def fastapi_server(_: Subscriber, async_sub: AsyncSubscriber, __: Path) -> AbstractContextManager[str]:
    from fastapi import FastAPI

    from sns_subscriber.integrations.fastapi import sns_api_router

    app = FastAPI()
    app.include_router(sns_api_router([async_sub]))
    return serve_asgi(app)


def django_server(sync: Subscriber, _: AsyncSubscriber, __: Path) -> AbstractContextManager[str]:
    import django
    from django.conf import settings
    from django.urls import path

    from sns_subscriber.integrations.django import sns_view

    urls = types.ModuleType("sns_contract_urls")
    urls.urlpatterns = [path(PATH.lstrip("/"), sns_view(sync))]  # type: ignore[attr-defined]
    sys.modules["sns_contract_urls"] = urls
    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="test", ALLOWED_HOSTS=["127.0.0.1"], ROOT_URLCONF="sns_contract_urls",
            MIDDLEWARE=["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
            INSTALLED_APPS=[], USE_TZ=True, APPEND_SLASH=False,
        )  # fmt: skip
        django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import clear_url_caches

    clear_url_caches()
    return serve_wsgi(WSGIHandler())


def service_server(_: Subscriber, async_sub: AsyncSubscriber, cert_dir: Path) -> AbstractContextManager[str]:
    from sns_subscriber.service.app import create_app

    config = load_config(
        data={"endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN], "confirm": "manual"}]}
    )
    runtime = Runtime(config, async_sub.store, Router(), async_subscribers={PATH: async_sub})
    runtime.close = lambda: None  # type: ignore[method-assign]  # the test owns the store
    return serve_asgi(create_app(runtime, run_worker=False))


SERVERS: dict[str, Callable[[Subscriber, AsyncSubscriber, Path], AbstractContextManager[str]]] = {
    "flask": flask_server,
    "starlette": starlette_server,
    "fastapi": fastapi_server,
    "django": django_server,
    "service": service_server,
}


@pytest.fixture(params=sorted(SERVERS), scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, InboxStore, SNSTestKit]]:
    from sns_subscriber.testing import default_kit

    kit = default_kit()
    tmp = tmp_path_factory.mktemp(request.param)
    store = sqlite_store(tmp)
    sync, async_sub = _subscribers(kit, store, tmp / "certs")
    with SERVERS[request.param](sync, async_sub, tmp / "certs") as base:
        yield base + PATH, store, kit
    store.close()


def _post(url: str, kit: SNSTestKit, fields: dict[str, Any], **kwargs: Any) -> Any:
    return request(
        url,
        body=kwargs.pop("body", kit.body(fields)),
        headers=kit.headers(fields) | kwargs.pop("headers", {}),
        **kwargs,
    )


def test_accepts_then_deduplicates(served: tuple[str, InboxStore, SNSTestKit]) -> None:
    url, store, kit = served
    fields = kit.notification(TEST_TOPIC_ARN, "contract")
    first = _post(url, kit, fields)
    assert (first.status, first.headers["content-type"]) == (200, "application/json")
    assert b'"accepted"' in first.body
    again = _post(url, kit, fields)
    assert (again.status, b'"duplicate"' in again.body) == (200, True)
    record = store.get(fields["MessageId"])
    assert record is not None
    assert record.status == InboxStatus.RECEIVED


@pytest.mark.parametrize(
    ("case", "status"),
    [("forged", 403), ("malformed", 400), ("oversized", 413), ("get", 405), ("foreign", 403)],
)
def test_rejections(served: tuple[str, InboxStore, SNSTestKit], case: str, status: int) -> None:
    url, store, kit = served
    before = store.counts()
    fields = kit.notification(TEST_TOPIC_ARN, "x")
    if case == "forged":
        fields["Message"] = "forged"
        reply = _post(url, kit, fields)
    elif case == "malformed":
        reply = _post(url, kit, fields, body=b"{not json")
    elif case == "oversized":
        reply = _post(url, kit, fields, body=b"x" * (2 * 1024 * 1024))
    elif case == "foreign":
        foreign = kit.notification("arn:aws:sns:us-east-1:999999999999:evil", "x")
        reply = _post(url, kit, foreign)
    else:
        reply = request(url, method="GET")
    assert reply.status == status, reply.body
    assert store.counts() == before


def _post_chunked(url: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked (no Content-Length), one chunk per item."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=15)
    try:
        connection.request("POST", parts.path, body=iter(chunks), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_chunked_body_is_read_whole(served: tuple[str, InboxStore, SNSTestKit]) -> None:
    url, store, kit = served
    fields = kit.notification(TEST_TOPIC_ARN, "chunked " * 200)
    body = kit.body(fields)
    status, reply = _post_chunked(
        url, kit.headers(fields), [body[i : i + 100] for i in range(0, len(body), 100)]
    )
    assert (status, b'"accepted"' in reply) == (200, True)
    record = store.get(fields["MessageId"])
    assert record is not None and record.body == body


def test_an_oversized_chunked_body_is_refused_while_reading(
    served: tuple[str, InboxStore, SNSTestKit],
) -> None:
    url, store, kit = served
    before = store.counts()
    fields = kit.notification(TEST_TOPIC_ARN, "x")
    status, _ = _post_chunked(url, kit.headers(fields), [b"x" * 65536] * 20)
    assert status == 413
    assert store.counts() == before


def test_subscription_confirmation_pending(served: tuple[str, InboxStore, SNSTestKit]) -> None:
    url, _, kit = served
    reply = _post(url, kit, kit.subscription_confirmation())
    assert (reply.status, b'"pending"' in reply.body) == (200, True)
