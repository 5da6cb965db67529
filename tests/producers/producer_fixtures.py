"""Loaders for the real producer payloads (sources: tests/data/producers/SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sns_subscriber.messages import Notification

DATA = Path(__file__).resolve().parent.parent / "data"
PRODUCERS = DATA / "producers"
SIGNED = DATA / "signed"


def read(name: str) -> str:
    return (PRODUCERS / name).read_text(encoding="utf-8")


def envelope(path: Path) -> dict[str, Any]:
    """The SNS envelope in ``path``: an HTTP body, a Lambda ``Sns`` record or a whole Lambda event."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if "Records" in data and "Type" not in data:
        data = data["Records"][0]["Sns"]
    return data


def notification(path: Path) -> Notification:
    fields = envelope(path)
    return Notification(
        message_id=fields["MessageId"],
        topic_arn=fields["TopicArn"],
        message=fields["Message"],
        timestamp=fields["Timestamp"],
        signature_version=fields["SignatureVersion"],
        signature=fields["Signature"],
        signing_cert_url=fields.get("SigningCertURL") or fields["SigningCertUrl"],
        subject=fields.get("Subject"),
    )


def message(path: Path) -> str:
    text: str = envelope(path)["Message"]
    return text
