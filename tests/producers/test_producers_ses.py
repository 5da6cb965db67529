"""SES: the real notifications with their exact values, both formats, every event type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.producers.ses import (
    SESBounce,
    SESBouncedRecipient,
    SESComplaint,
    SESDelivery,
    SESEvent,
    SESMail,
    parse_ses,
)

from .producer_fixtures import PRODUCERS, SIGNED, message, read

SENDER = "jesus.islasf@alumno.buap.mx"
SENDER_ARN = "arn:aws:ses:us-east-1:364852123998:identity/jesus.islasf@alumno.buap.mx"


def bounce_2022_04_01(raw: str) -> SESEvent:
    return SESEvent(
        event_type="Bounce",
        format="notification",
        mail=SESMail(
            message_id="0100017fe7043e8e-fc9c357d-a9a4-49bc-a4b4-fa984009d568-000000",
            source=SENDER,
            source_arn=SENDER_ARN,
            destination=("bounce@simulator.amazonses.com",),
            timestamp=datetime(2022, 4, 1, 21, 24, 49, 422000, tzinfo=UTC),
            subject="Subject Test",
            sending_account_id="364852123998",
            common_headers={
                "from": (SENDER,),
                "to": ("bounce@simulator.amazonses.com",),
                "subject": "Subject Test",
            },
            tags={},
        ),
        bounce=SESBounce(
            bounce_type="Permanent",
            bounce_subtype="General",
            recipients=(
                SESBouncedRecipient(
                    email="bounce@simulator.amazonses.com",
                    status="5.1.1",
                    action="failed",
                    diagnostic="smtp; 550 5.1.1 user unknown",
                ),
            ),
            feedback_id="0100017fe7044080-b95aeb18-3fb8-408a-be9b-15fdbac3945a-000000",
            timestamp=datetime(2022, 4, 1, 21, 24, 49, tzinfo=UTC),
            reporting_mta="dns; a48-30.smtp-out.amazonses.com",
        ),
        details={
            "feedbackId": "0100017fe7044080-b95aeb18-3fb8-408a-be9b-15fdbac3945a-000000",
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": (
                {
                    "emailAddress": "bounce@simulator.amazonses.com",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                },
            ),
            "timestamp": "2022-04-01T21:24:49.000Z",
            "remoteMtaIp": "3.231.136.178",
            "reportingMTA": "dns; a48-30.smtp-out.amazonses.com",
        },
        raw=raw,
    )


def complaint_2022_03_28(raw: str) -> SESEvent:
    return SESEvent(
        event_type="Complaint",
        format="event",
        mail=SESMail(
            message_id="0100017fd2f875c4-c2929163-2767-49b1-8513-1a29e428e134-000000",
            source=SENDER,
            source_arn=SENDER_ARN,
            destination=("complaint@simulator.amazonses.com",),
            timestamp=datetime(2022, 3, 28, 23, 59, 32, 804000, tzinfo=UTC),
            subject="Complaint Notification",
            sending_account_id="364852123998",
            common_headers={
                "from": (SENDER,),
                "to": ("complaint@simulator.amazonses.com",),
                "messageId": "0100017fd2f875c4-c2929163-2767-49b1-8513-1a29e428e134-000000",
                "subject": "Complaint Notification",
            },
            tags={
                "ses:operation": ("SendEmail",),
                "ses:configuration-set": ("test-set",),
                "ses:source-ip": ("189.203.131.80",),
                "ses:from-domain": ("alumno.buap.mx",),
                "ses:caller-identity": ("root",),
            },
        ),
        complaint=SESComplaint(
            recipients=("complaint@simulator.amazonses.com",),
            feedback_type="abuse",
            feedback_id="0100017fd2f87864-7f070191-4eb1-49e3-a42e-7e996b718724-000000",
            timestamp=datetime(2022, 3, 28, 23, 59, 33, 564000, tzinfo=UTC),
            complaint_subtype=None,
            user_agent="Amazon SES Mailbox Simulator",
            arrival_date=datetime(2022, 3, 28, 23, 59, 33, 564000, tzinfo=UTC),
        ),
        details={
            "feedbackId": "0100017fd2f87864-7f070191-4eb1-49e3-a42e-7e996b718724-000000",
            "complaintSubType": None,
            "complainedRecipients": ({"emailAddress": "complaint@simulator.amazonses.com"},),
            "timestamp": "2022-03-28T23:59:33.564Z",
            "userAgent": "Amazon SES Mailbox Simulator",
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2022-03-28T23:59:33.564Z",
        },
        raw=raw,
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (PRODUCERS / "ses-bounce-notification-2022-04-01.json", bounce_2022_04_01),
        (SIGNED / "ses-bounce-notification-2022-04-01-us-east-1.json", bounce_2022_04_01),
        (PRODUCERS / "ses-complaint-event-publishing-2022-03-28.json", complaint_2022_03_28),
        (SIGNED / "ses-complaint-event-publishing-2022-03-28-us-east-1.json", complaint_2022_03_28),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_real_notification(path: Path, expected: Any) -> None:
    raw = message(path)
    event = parse_ses(json.loads(raw), raw)
    assert event == expected(raw)


def test_real_bounce_is_permanent() -> None:
    event = bounce_2022_04_01("")
    assert event.bounce is not None
    assert event.bounce.permanent


def test_delivery_documentation_example() -> None:
    raw = read("ses-delivery-notification.doc-example.message.json")
    assert parse_ses(json.loads(raw), raw) == SESEvent(
        event_type="Delivery",
        format="notification",
        mail=SESMail(
            message_id="0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000",
            source="john@example.com",
            source_arn="arn:aws:ses:us-east-1:888888888888:identity/example.com",
            destination=("jane@example.com",),
            timestamp=datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC),
            subject="Hello",
            sending_account_id="123456789012",
            common_headers={
                "from": ("John Doe <john@example.com>",),
                "date": "Wed, 27 Jan 2016 14:58:45 +0000",
                "to": ("Jane Doe <jane@example.com>",),
                "messageId": "custom-message-ID",
                "subject": "Hello",
            },
        ),
        delivery=SESDelivery(
            recipients=("jane@example.com",),
            smtp_response="250 ok:  Message 64111812 accepted",
            processing_time_ms=546,
            timestamp=datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC),
            reporting_mta="a8-70.smtp-out.amazonses.com",
            remote_mta_ip="127.0.2.0",
        ),
        details={
            "timestamp": "2016-01-27T14:59:38.237Z",
            "recipients": ("jane@example.com",),
            "processingTimeMillis": 546,
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
            "smtpResponse": "250 ok:  Message 64111812 accepted",
            "remoteMtaIp": "127.0.2.0",
        },
        raw=raw,
    )


MAIL = {"messageId": "m-1", "source": "a@example.com", "destination": ["b@example.com"]}


@pytest.mark.parametrize(
    ("event_type", "part_key", "part", "frozen_part"),
    [
        ("Send", "send", {}, {}),
        ("Reject", "reject", {"reason": "Bad content"}, {"reason": "Bad content"}),
        (
            "Open",
            "open",
            {"ipAddress": "192.0.2.1", "timestamp": "2017-08-09T22:00:19.652Z", "userAgent": "Mozilla/5.0"},
            {"ipAddress": "192.0.2.1", "timestamp": "2017-08-09T22:00:19.652Z", "userAgent": "Mozilla/5.0"},
        ),
        (
            "Click",
            "click",
            {"link": "https://example.com/", "linkTags": {"campaign": ["spring"]}},
            {"link": "https://example.com/", "linkTags": {"campaign": ("spring",)}},
        ),
        (
            # The one type whose object is not named after it (and whose name has a space).
            "Rendering Failure",
            "failure",
            {"errorMessage": "Attribute 'name' is not present in the rendering data.", "templateName": "T"},
            {"errorMessage": "Attribute 'name' is not present in the rendering data.", "templateName": "T"},
        ),
        (
            "DeliveryDelay",
            "deliveryDelay",
            {
                "delayType": "TransientCommunicationFailure",
                "delayedRecipients": [{"emailAddress": "b@example.com"}],
            },
            {
                "delayType": "TransientCommunicationFailure",
                "delayedRecipients": ({"emailAddress": "b@example.com"},),
            },
        ),
        ("Subscription", "subscription", {"contactList": "news"}, {"contactList": "news"}),
    ],
)
def test_event_publishing_types(
    event_type: str, part_key: str, part: dict[str, Any], frozen_part: dict[str, Any]
) -> None:
    event = parse_ses({"eventType": event_type, "mail": MAIL, part_key: part}, "{}")
    assert event == SESEvent(
        event_type=event_type,
        format="event",
        mail=SESMail(message_id="m-1", source="a@example.com", destination=("b@example.com",)),
        details=frozen_part,
        raw="{}",
    )


def test_event_publishing_bounce_and_delivery_are_typed() -> None:
    bounce = parse_ses(
        {
            "eventType": "Bounce",
            "mail": MAIL,
            "bounce": {
                "bounceType": "Transient",
                "bounceSubType": "MailboxFull",
                "bouncedRecipients": [{"emailAddress": "b@example.com"}, {"status": "4.2.2"}, "x"],
            },
        },
        "{}",
    )
    assert bounce is not None
    assert bounce.bounce == SESBounce(
        bounce_type="Transient",
        bounce_subtype="MailboxFull",
        recipients=(SESBouncedRecipient(email="b@example.com", status=None, action=None, diagnostic=None),),
        feedback_id=None,
        timestamp=None,
    )
    assert not bounce.bounce.permanent
    delivery = parse_ses(
        {"eventType": "Delivery", "mail": MAIL, "delivery": {"recipients": ["b@example.com"]}}, "{}"
    )
    assert delivery is not None
    assert delivery.delivery == SESDelivery(
        recipients=("b@example.com",), smtp_response=None, processing_time_ms=None, timestamp=None
    )


def test_subscription_succeeded_notice() -> None:
    text = (
        "You have successfully subscribed your Amazon SNS topic 'arn:aws:sns:us-east-1:123456789012:bounces' "
        "to receive 'Bounce' notifications from Amazon SES for identity 'example.com'."
    )
    data = {"notificationType": "AmazonSnsSubscriptionSucceeded", "message": text}
    assert parse_ses(data, "{}") == SESEvent(
        event_type="AmazonSnsSubscriptionSucceeded",
        format="notification",
        mail=SESMail(),
        details=data,
        raw="{}",
    )


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"eventType": "Bounce"},
        {"notificationType": "Bounce", "mail": "m"},
        {"notificationType": 3, "mail": {}},
        {"eventType": "AmazonSnsSubscriptionSucceeded"},
    ],
    ids=["empty", "no-mail", "mail-not-object", "type-not-string", "subscription-as-event"],
)
def test_not_ses(data: dict[str, Any]) -> None:
    assert parse_ses(data, "{}") is None


def test_wrong_types_give_a_partial_event() -> None:
    data = {
        "notificationType": "Complaint",
        "mail": {
            "messageId": 1,
            "destination": ["ok@example.com", 2],
            "timestamp": "later",
            "commonHeaders": [],
        },
        "complaint": {"complainedRecipients": [{"emailAddress": None}, {"emailAddress": "c@example.com"}]},
    }
    assert parse_ses(data, "{}") == SESEvent(
        event_type="Complaint",
        format="notification",
        mail=SESMail(destination=("ok@example.com",)),
        complaint=SESComplaint(
            recipients=("c@example.com",), feedback_type=None, feedback_id=None, timestamp=None
        ),
        details={"complainedRecipients": ({"emailAddress": None}, {"emailAddress": "c@example.com"})},
        raw="{}",
    )


def test_details_are_read_only() -> None:
    raw = message(PRODUCERS / "ses-bounce-notification-2022-04-01.json")
    event = parse_ses(json.loads(raw), raw)
    assert event is not None
    with pytest.raises(TypeError):
        event.details["bounceType"] = "Transient"  # type: ignore[index]
    recipients = event.details["bouncedRecipients"]
    assert isinstance(recipients, tuple)
    with pytest.raises(TypeError):
        recipients[0]["status"] = "2.0.0"
    assert SESEvent.producer == "ses"
