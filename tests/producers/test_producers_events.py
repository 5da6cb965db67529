"""EventBridge / AWS Health: the real samples with their exact values, and the Health view."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.producers.events import EventBridgeEvent, HealthEvent, parse_eventbridge

from .producer_fixtures import PRODUCERS, SIGNED, message

EVENT_ID = "7bf73129-1428-4cd3-a780-95db273d1602"
DESCRIPTION = "A description of the event will be provided here"
DESCRIPTIONS = ({"language": "en_US", "latestDescription": DESCRIPTION},)
ELB_ARN = "arn:aws:health:ap-southeast-2::event/AWS_ELASTICLOADBALANCING_API_ISSUE_90353408594353980"
EC2_ARN = (
    "arn:aws:health:us-west-2::event/AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED_90353408594353980"
)
DOS_ARN = "arn:aws:health:global::event/AWS_ABUSE_DOS_REPORT_92387492375_4498_2018_08_01_02_33_00"
DMCA_ARN = "arn:aws:health:global::event/AWS_ABUSE_COPYRIGHT_DMCA_REPORT_2345235545_5323_2018_08_02_02_12_98"
INSTANCE_1 = "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"
INSTANCE_2 = "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd2222"
DISTRIBUTION = "arn:aws:cloudfront::123456789012:distribution/DSF867DUMMY87SDF"


def elb_api_issue(raw: str) -> tuple[EventBridgeEvent, HealthEvent]:
    event = EventBridgeEvent(
        id=EVENT_ID,
        version="0",
        source="aws.health",
        detail_type="AWS Health Event",
        account="123456789012",
        region="ap-southeast-2",
        time=datetime(2016, 6, 5, 6, 27, 57, tzinfo=UTC),
        resources=(),
        detail={
            "eventArn": ELB_ARN,
            "service": "ELASTICLOADBALANCING",
            "eventTypeCode": "AWS_ELASTICLOADBALANCING_API_ISSUE",
            "eventTypeCategory": "issue",
            "startTime": "Sat, 04 Jun 2016 05:01:10 GMT",
            "endTime": "Sat, 04 Jun 2016 05:30:57 GMT",
            "eventDescription": DESCRIPTIONS,
        },
        raw=raw,
    )
    health = HealthEvent(
        event_arn=ELB_ARN,
        service="ELASTICLOADBALANCING",
        event_type_code="AWS_ELASTICLOADBALANCING_API_ISSUE",
        category="issue",
        status=None,
        start_time=datetime(2016, 6, 4, 5, 1, 10, tzinfo=UTC),
        end_time=datetime(2016, 6, 4, 5, 30, 57, tzinfo=UTC),
        description=DESCRIPTION,
        affected_entities=(),
    )
    return event, health


def ec2_store_drive(raw: str) -> tuple[EventBridgeEvent, HealthEvent]:
    event = EventBridgeEvent(
        id=EVENT_ID,
        version="0",
        source="aws.health",
        detail_type="AWS Health Event",
        account="123456789012",
        region="us-west-2",
        time=datetime(2016, 6, 5, 6, 27, 57, tzinfo=UTC),
        resources=("i-abcd1111",),
        detail={
            "eventArn": EC2_ARN,
            "service": "EC2",
            "eventTypeCode": "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
            "eventTypeCategory": "issue",
            "startTime": "Sat, 05 Jun 2016 15:10:09 GMT",
            "eventDescription": DESCRIPTIONS,
            "affectedEntities": ({"entityValue": "i-abcd1111", "tags": {"stage": "prod", "app": "my-app"}},),
        },
        raw=raw,
    )
    health = HealthEvent(
        event_arn=EC2_ARN,
        service="EC2",
        event_type_code="AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
        category="issue",
        status=None,
        start_time=datetime(2016, 6, 5, 15, 10, 9, tzinfo=UTC),
        end_time=None,
        description=DESCRIPTION,
        affected_entities=("i-abcd1111",),
    )
    return event, health


def abuse_dos(raw: str) -> tuple[EventBridgeEvent, HealthEvent]:
    event = EventBridgeEvent(
        id=EVENT_ID,
        version="0",
        source="aws.health",
        detail_type="AWS Health Abuse Event",
        account="123456789012",
        region="global",
        time=datetime(2018, 8, 1, 6, 27, 57, tzinfo=UTC),
        resources=(INSTANCE_1, INSTANCE_2),
        detail={
            "eventArn": DOS_ARN,
            "service": "ABUSE",
            "eventTypeCode": "AWS_ABUSE_DOS_REPORT",
            "eventTypeCategory": "issue",
            "startTime": "Wed, 01 Aug 2018 06:27:57 GMT",
            "eventDescription": DESCRIPTIONS,
            "affectedEntities": ({"entityValue": INSTANCE_1}, {"entityValue": INSTANCE_2}),
        },
        raw=raw,
    )
    health = HealthEvent(
        event_arn=DOS_ARN,
        service="ABUSE",
        event_type_code="AWS_ABUSE_DOS_REPORT",
        category="issue",
        status=None,
        start_time=datetime(2018, 8, 1, 6, 27, 57, tzinfo=UTC),
        end_time=None,
        description=DESCRIPTION,
        affected_entities=(INSTANCE_1, INSTANCE_2),
    )
    return event, health


def abuse_dmca(raw: str) -> tuple[EventBridgeEvent, HealthEvent]:
    event = EventBridgeEvent(
        id=EVENT_ID,
        version="0",
        source="aws.health",
        detail_type="AWS Health Abuse Event",
        account="123456789012",
        region="global",
        time=datetime(2018, 8, 2, 5, 30, tzinfo=UTC),
        resources=(DISTRIBUTION, INSTANCE_2),
        detail={
            "eventArn": DMCA_ARN,
            "service": "ABUSE",
            "eventTypeCode": "AWS_ABUSE_COPYRIGHT_DMCA_REPORT",
            "eventTypeCategory": "issue",
            "startTime": "Thu, 02 Aug 2018 05:30:00 GMT",
            "eventDescription": DESCRIPTIONS,
            "affectedEntities": ({"entityValue": DISTRIBUTION}, {"entityValue": INSTANCE_2}),
        },
        raw=raw,
    )
    health = HealthEvent(
        event_arn=DMCA_ARN,
        service="ABUSE",
        event_type_code="AWS_ABUSE_COPYRIGHT_DMCA_REPORT",
        category="issue",
        status=None,
        start_time=datetime(2018, 8, 2, 5, 30, tzinfo=UTC),
        end_time=None,
        description=DESCRIPTION,
        affected_entities=(DISTRIBUTION, INSTANCE_2),
    )
    return event, health


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (PRODUCERS / "aws-health-event-via-sns-2022-02-18.json", elb_api_issue),
        (SIGNED / "health-event-elb-api-issue-2022-02-18-ap-southeast-2.json", elb_api_issue),
        (SIGNED / "health-event-ec2-store-drive-2022-02-18-ap-southeast-2.json", ec2_store_drive),
        (PRODUCERS / "aws-health-abuse-event-via-sns-2022-02-18.json", abuse_dos),
        (SIGNED / "health-abuse-event-dmca-2022-02-18-ap-southeast-2.json", abuse_dmca),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_real_health_event(path: Path, expected: Any) -> None:
    raw = message(path)
    event = parse_eventbridge(json.loads(raw), raw)
    expected_event, expected_health = expected(raw)
    assert event == expected_event
    assert event is not None
    assert event.health == expected_health


def test_other_sources_have_no_health_view() -> None:
    data = {
        "version": "0",
        "id": "e-1",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2024-01-02T03:04:05Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:ec2:eu-west-1:123456789012:instance/i-1"],
        "detail": {"instance-id": "i-1", "state": "stopped"},
    }
    event = parse_eventbridge(data, "{}")
    assert event == EventBridgeEvent(
        id="e-1",
        version="0",
        source="aws.ec2",
        detail_type="EC2 Instance State-change Notification",
        account="123456789012",
        region="eu-west-1",
        time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        resources=("arn:aws:ec2:eu-west-1:123456789012:instance/i-1",),
        detail={"instance-id": "i-1", "state": "stopped"},
        raw="{}",
    )
    assert event is not None
    assert event.health is None


def test_health_event_with_iso_times_and_status() -> None:
    data = {
        "source": "aws.health",
        "detail-type": "AWS Health Event",
        "detail": {
            "statusCode": "closed",
            "startTime": "2024-03-01T10:00:00+01:00",
            "eventDescription": [],
            "affectedEntities": [{"entityValue": 5}, {"entityValue": "db-1"}, "x"],
        },
    }
    event = parse_eventbridge(data, "{}")
    assert event is not None
    assert event.health == HealthEvent(
        event_arn=None,
        service=None,
        event_type_code=None,
        category=None,
        status="closed",
        start_time=datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
        end_time=None,
        description=None,
        affected_entities=("db-1",),
    )


@pytest.mark.parametrize(
    "data",
    [{}, {"source": "aws.health"}, {"detail-type": "x"}, {"source": 1, "detail-type": "x"}],
)
def test_not_eventbridge(data: dict[str, Any]) -> None:
    assert parse_eventbridge(data, "{}") is None


def test_wrong_types_give_a_partial_event() -> None:
    data = {"source": "s", "detail-type": "d", "time": 5, "resources": "r", "detail": ["x"], "id": None}
    assert parse_eventbridge(data, "{}") == EventBridgeEvent(
        id=None,
        version=None,
        source="s",
        detail_type="d",
        account=None,
        region=None,
        time=None,
        resources=(),
        detail={},
        raw="{}",
    )


def test_detail_is_read_only() -> None:
    raw = message(SIGNED / "health-event-ec2-store-drive-2022-02-18-ap-southeast-2.json")
    event = parse_eventbridge(json.loads(raw), raw)
    assert event is not None
    with pytest.raises(TypeError):
        event.detail["service"] = "S3"  # type: ignore[index]
    with pytest.raises(TypeError):
        event.detail["affectedEntities"][0]["tags"]["stage"] = "dev"
    assert EventBridgeEvent.producer == "eventbridge"
