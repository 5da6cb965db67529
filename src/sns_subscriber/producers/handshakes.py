"""Producers' handshake and test events: messages that only prove a topic is wired up.

AWS services send one when a topic is attached to them. They carry nothing to act on, so the
worker records them as ``test`` and runs no action (:mod:`sns_subscriber.triage`):

* AWS Budgets: the "SNS Topic Verified!" notification (:class:`BudgetTopicVerified`);
* Amazon S3: ``{"Event": "s3:TestEvent", ...}`` when a bucket notification is configured;
* Amazon SES identity notifications: ``notificationType`` ``AmazonSnsSubscriptionSucceeded``
  when a topic is set for an identity's bounces, complaints or deliveries;
* Amazon SES event publishing: the text "Successfully validated SNS topic for Amazon SES event
  publishing." when a configuration set gets an SNS destination.
"""

from __future__ import annotations

from typing import Final

from .budgets import BudgetTopicVerified
from .s3 import S3Event
from .ses import SUBSCRIPTION_SUCCEEDED, SESEvent

__all__ = ["SES_EVENT_PUBLISHING_VALIDATED", "handshake_name"]

SES_EVENT_PUBLISHING_VALIDATED: Final = "Successfully validated SNS topic for Amazon SES event publishing."


def handshake_name(event: object, message: str | None = None) -> str | None:
    """What handshake ``event`` (or the raw ``message``) is, in a few words; None for real events."""
    if isinstance(event, BudgetTopicVerified):
        return "AWS Budgets SNS Topic Verified!"
    if isinstance(event, S3Event) and event.test_event:
        return "Amazon S3 s3:TestEvent"
    if isinstance(event, SESEvent) and event.event_type == SUBSCRIPTION_SUCCEEDED:
        return f"Amazon SES {SUBSCRIPTION_SUCCEEDED}"
    if message is not None and message.strip() == SES_EVENT_PUBLISHING_VALIDATED:
        return "Amazon SES event publishing validation"
    return None
