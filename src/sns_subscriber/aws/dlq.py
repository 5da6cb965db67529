"""Recovering what SNS dead-lettered: move it from the dead-letter queue into the inbox.

A message in a subscription's dead-letter queue is what SNS failed to deliver: the signed SNS
envelope (when raw delivery was off), or the bare message. An envelope goes through the
pipeline of the endpoint or queue whose allow-list has its topic (verified like any delivery);
a bare message cannot be verified, so it is stored as raw and attributed to the dead-letter
queue itself (its origin is the AWS API: whoever may write to that queue). Either way it is
deduplicated by the inbox and deleted from the queue only after the commit (the
:class:`~sns_subscriber.aws.queues.QueuePoller` does that); then the worker processes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ..exceptions import TopicNotAllowedError
from ..outcome import Outcome, outcome_for_error
from .queues import QueuePoller, RawQueueHandler, SQSMessage

__all__ = ["DeadLetterHandler", "DrainResult", "drain"]


class DeadLetterHandler:
    """``route(topic_arn)`` returns the handler of the endpoint or queue accepting that topic."""

    def __init__(
        self, route: Callable[[str], Callable[[SQSMessage], Outcome] | None], bare: RawQueueHandler
    ) -> None:
        self.route = route
        self.bare = bare
        self.verified = 0
        self.unverified = 0

    def __call__(self, message: SQSMessage) -> Outcome:
        topic = _envelope_topic(message.body)
        if topic is None:
            outcome = self.bare(message)
            if outcome.result == "accepted":
                self.unverified += 1
            return outcome
        handler = self.route(topic)
        if handler is None:
            return outcome_for_error(
                TopicNotAllowedError("no endpoint or queue accepts this topic", value=topic)
            )
        outcome = handler(message)
        if outcome.result == "accepted":
            self.verified += 1
        return outcome


def _envelope_topic(body: bytes) -> str | None:
    """The TopicArn of an SNS envelope; None for anything else (a bare message)."""
    try:
        fields = json.loads(body)
    except ValueError:
        return None
    if not isinstance(fields, dict) or "Type" not in fields or "Signature" not in fields:
        return None
    topic = fields.get("TopicArn")
    return topic if isinstance(topic, str) else ""


@dataclass(frozen=True)
class DrainResult:
    received: int
    verified: int
    unverified: int
    duplicates: int
    rejected: int


def drain(poller: QueuePoller, handler: DeadLetterHandler, *, limit: int) -> DrainResult:
    """Receive until the queue shows nothing more or ``limit`` messages were received."""
    received = 0
    while received < limit:
        poller.batch_size = min(10, limit - received)
        count = poller.poll_once(wait_seconds=0)
        if count == 0:
            break
        received += count
    status = poller.status
    return DrainResult(received, handler.verified, handler.unverified, status.duplicates, status.rejected)
