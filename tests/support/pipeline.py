"""Helpers for pipeline tests: a real SQLite inbox, a kit-trusting subscriber, requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sns_subscriber.inbound import InboundRequest
from sns_subscriber.stores import InboxStore, open_store
from sns_subscriber.subscriber import Subscriber
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit


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
