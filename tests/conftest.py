"""Shared test helpers: the real AWS-signed fixtures and a clock set to their time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sns_subscriber import VerificationPolicy, Verifier, parse
from sns_subscriber.messages import SNSMessage

DATA = Path(__file__).parent / "data"
SIGNED = DATA / "signed"
CERTS = SIGNED / "certs"


@dataclass(frozen=True)
class SignedFixture:
    name: str
    path: Path
    type: str
    signature_version: str
    topic_arn: str

    @property
    def body(self) -> bytes:
        return self.path.read_bytes()

    def message(self) -> SNSMessage:
        return parse(self.body)


def signed_fixtures() -> list[SignedFixture]:
    manifest = json.loads((SIGNED / "manifest.json").read_text())
    return [
        SignedFixture(m["file"], SIGNED / m["file"], m["type"], m["signature_version"], m["topic_arn"])
        for m in manifest["messages"]
    ]


def fixture_verifier(message: SNSMessage, **policy: object) -> Verifier:
    """A verifier for a real fixture: pinned AWS certificates, clock at the message's time."""
    when = message.sent_at
    options: dict[str, object] = {"allowed_topic_arns": (message.topic_arn,)}
    options.update(policy)
    return Verifier(VerificationPolicy(**options), cert_dir=CERTS, clock=lambda: when, fetch=False)  # type: ignore[arg-type]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail the test if anything opens an outbound connection; yields the attempts."""
    import socket

    attempts: list[str] = []
    real = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        attempts.append(repr(address))
        raise AssertionError(f"unexpected network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts
    monkeypatch.setattr(socket.socket, "connect", real)


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in place of AWS (SES, SNS), with throwaway credentials in us-east-1."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from moto import mock_aws

    with mock_aws():
        yield
