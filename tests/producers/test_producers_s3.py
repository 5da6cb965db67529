"""S3 event notifications: the real record with its exact values, key decoding, the test event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.producers.s3 import S3Event, S3Record, parse_s3

from .producer_fixtures import PRODUCERS, SIGNED, message


@pytest.mark.parametrize(
    "path",
    [
        PRODUCERS / "s3-object-created-2019-09-04.lambda-record.json",
        SIGNED / "s3-object-created-2019-09-04-us-west-1.lambda-record.json",
    ],
    ids=lambda p: p.parent.name,
)
def test_real_object_created(path: Path) -> None:
    raw = message(path)
    assert parse_s3(json.loads(raw), raw) == S3Event(
        records=(
            S3Record(
                event_name="ObjectCreated:Put",
                event_time=datetime(2019, 9, 4, 20, 11, 9, 660000, tzinfo=UTC),
                region="us-west-1",
                bucket="fssi2019-s3-ingest",
                key="upload/28d61694-0348-4c6f-83a2-89a9d781d942.md",
                size=466,
                etag="bdf430c4b4bbdd37886b0de2a4b87107",
                version_id=None,
                sequencer="005D701A5D9658C51B",
                configuration_id="Ingest Upload",
            ),
        ),
        raw=raw,
    )


def _record(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, **extra}},
    }


@pytest.mark.parametrize(
    ("sent", "decoded"),
    [
        ("reports/2024+Q1/summary+final.pdf", "reports/2024 Q1/summary final.pdf"),
        ("a%2Bb%3Dc.txt", "a+b=c.txt"),
        ("caf%C3%A9/%E2%82%AC.csv", "café/€.csv"),
        ("plain.txt", "plain.txt"),
    ],
)
def test_keys_are_url_decoded(sent: str, decoded: str) -> None:
    event = parse_s3({"Records": [_record(sent)]}, "{}")
    assert event is not None
    assert event.records[0].key == decoded


def test_versioned_delete_and_foreign_records() -> None:
    data = {
        "Records": [
            _record("k", versionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", sequencer="0A1B"),
            {"eventSource": "aws:sqs"},
            "junk",
        ]
    }
    assert parse_s3(data, "{}") == S3Event(
        records=(
            S3Record(
                event_name="ObjectRemoved:Delete",
                event_time=None,
                region=None,
                bucket="b",
                key="k",
                size=None,
                etag=None,
                version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
                sequencer="0A1B",
            ),
        ),
        raw="{}",
    )


def test_test_event() -> None:
    # The shape S3 documents for the message it sends when a notification is configured.
    data = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2014-10-13T15:57:02.089Z",
        "Bucket": "bucketname",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    assert parse_s3(data, "{}") == S3Event(
        records=(),
        test_event=True,
        test_bucket="bucketname",
        test_time=datetime(2014, 10, 13, 15, 57, 2, 89000, tzinfo=UTC),
        raw="{}",
    )


@pytest.mark.parametrize(
    "data",
    [{}, {"Records": []}, {"Records": "x"}, {"Records": [{"eventSource": "aws:sns"}]}, {"Event": "s3:Other"}],
)
def test_not_s3(data: dict[str, Any]) -> None:
    assert parse_s3(data, "{}") is None


def test_wrong_types_give_a_partial_record() -> None:
    data = {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": 5, "size": "466"}, "bucket": []}}]}
    event = parse_s3(data, "{}")
    assert event is not None
    assert event.records == (
        S3Record(
            event_name=None,
            event_time=None,
            region=None,
            bucket=None,
            key=None,
            size=None,
            etag=None,
            version_id=None,
        ),
    )
    assert S3Event.producer == "s3"
