"""Helpers for pipeline tests: a real SQLite inbox, a kit-trusting subscriber, requests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sns_subscriber.inbound import InboundRequest
from sns_subscriber.outcome import Outcome
from sns_subscriber.stores import InboxStore, open_store
from sns_subscriber.subscriber import AsyncSubscriber, Subscriber
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit
from sns_subscriber.verification import AsyncVerifier, VerificationPolicy


def sqlite_store(tmp_path: Path) -> InboxStore:
    return open_store(f"sqlite:///{tmp_path / 'inbox.db'}")


def make_subscriber(kit: SNSTestKit, store: InboxStore, tmp_path: Path, **options: Any) -> Subscriber:
    policy = options.pop("policy", {})
    verifier = kit.verifier([TEST_TOPIC_ARN], cert_dir=tmp_path / "certs", **policy)
    return Subscriber(verifier, store, endpoint="/sns", **options)


def post(fields: dict[str, Any], *, headers: dict[str, str] | None = None, body: bytes | None = None,
         method: str = "POST") -> InboundRequest:  # fmt: skip
    all_headers = SNSTestKit.headers(fields) if fields else {}
    all_headers |= headers or {}
    return InboundRequest.build(
        method, "/sns", all_headers, body if body is not None else SNSTestKit.body(fields)
    )


def store_is_empty(store: InboxStore) -> bool:
    return sum(store.counts().values()) == 0 and store.list_subscriptions() == []


class Twin:
    """One of the two pipelines behind the same blocking call, so a test runs unchanged on
    ``Subscriber`` (``"sync"``) and ``AsyncSubscriber`` (``"async"``, on its own event loop)."""

    def __init__(self, kind: str, kit: SNSTestKit, store: InboxStore, tmp_path: Path, **options: Any) -> None:
        self.kind = kind
        policy = options.pop("policy", {})
        if kind == "sync":
            self.sync: Subscriber | None = make_subscriber(kit, store, tmp_path, policy=policy, **options)
            self._async: AsyncSubscriber | None = None
            self._runner: asyncio.Runner | None = None
        else:
            kit.write_cert_dir(tmp_path / "certs")
            verifier = AsyncVerifier(
                VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,), **policy),
                cert_dir=tmp_path / "certs",
                fetch=False,
            )
            self.sync = None
            self._async = AsyncSubscriber(verifier, store, endpoint="/sns", **options)
            self._runner = asyncio.Runner()

    def handle(self, request: InboundRequest) -> Outcome:
        if self.sync is not None:
            return self.sync.handle(request)
        assert self._async is not None and self._runner is not None
        return self._runner.run(self._async.handle(request))

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


TWINS = ("sync", "async")
