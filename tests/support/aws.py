"""moto for AWS unit tests: an in-process AWS with dummy credentials, and typed clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

REGION = "us-east-1"


@contextmanager
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def client(service: str, region: str = REGION) -> Any:
    """A boto3 client (typed Any: the stubs overload ``client`` per service name)."""
    import boto3

    session: Any = boto3.session.Session()
    return session.client(service, region_name=region)
