"""Receiving through SQS: a queue subscribed to SNS topics, polled instead of pushed to.

Each SQS message goes through the same path as an HTTP delivery (the endpoint's
:class:`~sns_subscriber.subscriber.Subscriber`: parse, verify, dedupe, store) and is deleted
from the queue only after the inbox has committed it. So:

- a poller killed between the commit and the delete loses nothing: SQS delivers the message
  again after its visibility timeout, the inbox sees its MessageId and stores nothing new,
  and the message is deleted then;
- SQS redeliveries and SNS duplicates carry the same SNS MessageId: stored once;
- a message the pipeline rejects (malformed, bad signature, topic not allowed) is not
  deleted: it is counted and logged as rejected and left for the queue's redrive policy
  (its dead-letter queue), where a person can look at it;
- a temporary failure (store unavailable, certificate host unreachable) leaves the message
  for a later receive too, and the poller backs off like on AWS errors.

With raw message delivery the SQS body is the bare message: there is no signature to check,
so trust comes from IAM on the queue (who may ``sqs:SendMessage`` to it). Such messages are
stored with ``raw_delivery`` set, under the SQS MessageId, and the queue's one topic.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from ..exceptions import SNSSubscriberError, TemporaryFailureError
from ..inbound import InboundRequest
from ..outcome import Outcome, outcome_for_error

if TYPE_CHECKING:
    from ..stores import InboxStore
    from ..subscriber import Subscriber

__all__ = ["PollerStatus", "QueuePoller", "RawQueueHandler", "SQSMessage", "envelope_handler"]

logger = logging.getLogger("sns_subscriber.sqs")

#: Longest wait between two receives after repeated AWS errors.
MAX_BACKOFF_SECONDS: Final = 60.0

#: What the poller did with one SQS message.
Disposition = Literal["accepted", "duplicate", "rejected", "retry"]


@dataclass(frozen=True, slots=True)
class SQSMessage:
    message_id: str
    receipt_handle: str
    body: bytes
    receive_count: int = 1

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> SQSMessage:
        attributes = raw.get("Attributes") or {}
        try:
            count = int(attributes.get("ApproximateReceiveCount", "1"))
        except ValueError:
            count = 1
        return cls(raw["MessageId"], raw["ReceiptHandle"], raw.get("Body", "").encode("utf-8"), count)


def envelope_handler(subscriber: Subscriber) -> Callable[[SQSMessage], Outcome]:
    """Handle an SQS body holding the signed SNS envelope exactly like an HTTP delivery."""

    def handle(message: SQSMessage) -> Outcome:
        request = InboundRequest.build("POST", subscriber.endpoint, {}, message.body)
        return subscriber.handle(request)

    return handle


class RawQueueHandler:
    """Store raw-delivered SQS messages (no SNS envelope, no signature: IAM on the queue is
    what vouches for them) under their SQS MessageId and the queue's one topic."""

    def __init__(self, store: InboxStore, *, endpoint: str, topic_arn: str, max_body_bytes: int) -> None:
        from ..stores import NewMessage  # noqa: PLC0415 - stores are not part of `import sns_subscriber`

        self.store = store
        self.endpoint = endpoint
        self.topic_arn = topic_arn
        self.max_body_bytes = max_body_bytes
        self._new_message = NewMessage

    def __call__(self, message: SQSMessage) -> Outcome:
        from ..exceptions import MessageTooLargeError  # noqa: PLC0415

        try:
            if len(message.body) > self.max_body_bytes:
                raise MessageTooLargeError(
                    f"body is over the {self.max_body_bytes}-byte cap", message_id=message.message_id
                )
            inserted = self.store.add(
                self._new_message(
                    message_id=message.message_id,
                    endpoint=self.endpoint,
                    topic_arn=self.topic_arn,
                    message_type="Notification",
                    subject=None,
                    body=message.body,
                    raw_delivery=True,
                )
            )
        except Exception as exc:
            return outcome_for_error(exc)
        return Outcome.success("accepted" if inserted else "duplicate", message_id=message.message_id)


@dataclass
class PollerStatus:
    """What ``/readyz`` and the metrics show of one poller."""

    queue: str
    state: str = "starting"  # starting, polling, backing_off, stopped
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: int = 0
    last_error: str | None = None
    last_rejection: str | None = None
    last_poll_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "queue": self.queue,
                "state": self.state,
                "received": self.received,
                "accepted": self.accepted,
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "errors": self.errors,
                "last_error": self.last_error,
                "last_rejection": self.last_rejection,
            }


class QueuePoller:
    """Long-poll one SQS queue and hand each message to ``handle`` (one endpoint's pipeline).

    ``client`` is a boto3 SQS client; ``on_message(queue, disposition)`` is called per
    message (metrics); ``on_rejected(message, reason)`` per rejected message.
    """

    def __init__(
        self,
        client: Any,
        queue_url: str,
        handle: Callable[[SQSMessage], Outcome],
        *,
        name: str | None = None,
        batch_size: int = 10,
        wait_seconds: int = 20,
        visibility_timeout: int = 60,
        on_message: Callable[[str, Disposition], None] | None = None,
        on_rejected: Callable[[SQSMessage, str], None] | None = None,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.handle = handle
        self.name = name or queue_url.rstrip("/").rsplit("/", 1)[-1]
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.on_message = on_message
        #: Records a rejected message (the inbox's bounded rejections table).
        self.on_rejected = on_rejected
        self.status = PollerStatus(self.name)
        self._failures = 0

    def poll_once(self, *, wait_seconds: int | None = None) -> int:
        """Receive one batch, store what the pipeline accepts, delete what is stored.
        Returns how many messages were received. AWS errors propagate (see :meth:`run`)."""
        answer = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            VisibilityTimeout=self.visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = [SQSMessage.from_api(m) for m in answer.get("Messages", [])]
        done: list[SQSMessage] = []
        temporary = False
        for message in messages:
            disposition = self._handle(message)
            if disposition in ("accepted", "duplicate"):
                done.append(message)
            elif disposition == "retry":
                temporary = True
        if done:
            self._delete(done)
        with self.status.lock:
            self.status.received += len(messages)
            self.status.last_poll_at = time.time()
        if temporary:
            # The messages come back after their visibility timeout; slow down meanwhile.
            raise _InboxUnavailableError("the inbox could not take a message; it stays in the queue")
        return len(messages)

    def _handle(self, message: SQSMessage) -> Disposition:
        try:
            outcome = self.handle(message)
        except Exception as exc:  # a handler bug must not stop the poller; the message stays
            outcome = outcome_for_error(exc)
        disposition: Disposition
        if 200 <= outcome.status < 300:
            disposition = "duplicate" if outcome.result == "duplicate" else "accepted"
        elif outcome.status >= 500:
            disposition = "retry"
        else:
            disposition = "rejected"
            reason = f"{outcome.result}: {outcome.detail or ''}".strip()
            logger.warning(
                "queue %s: message %s rejected (%s); left in the queue for its redrive policy "
                "(received %d time(s))",
                self.name,
                message.message_id,
                reason,
                message.receive_count,
            )
            if self.on_rejected is not None:
                try:
                    self.on_rejected(message, reason)
                except Exception:  # the log line above is the record then
                    logger.exception("queue %s: could not record the rejection", self.name)
        with self.status.lock:
            if disposition == "accepted":
                self.status.accepted += 1
            elif disposition == "duplicate":
                self.status.duplicates += 1
            elif disposition == "rejected":
                self.status.rejected += 1
                self.status.last_rejection = f"{message.message_id}: {outcome.result}"
        if self.on_message is not None:
            self.on_message(self.name, disposition)
        return disposition

    def _delete(self, messages: list[SQSMessage]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)]
        answer = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        for failure in answer.get("Failed", []):
            # Stored already: the redelivery will be a duplicate, deleted then.
            logger.warning(
                "queue %s: could not delete a stored message (%s); it will be deduplicated",
                self.name,
                failure.get("Code"),
            )

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; back off exponentially (with jitter) on errors."""
        logger.info("polling %s", self.name)
        while not stop.is_set():
            try:
                received = self.poll_once()
            except Exception as exc:  # botocore raises many classes; all mean "try later"
                self._failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 2.0 ** min(self._failures, 6)) * random.uniform(0.5, 1.0)
                text = exc.reason if isinstance(exc, SNSSubscriberError) else f"{type(exc).__name__}: {exc}"
                with self.status.lock:
                    self.status.state = "backing_off"
                    self.status.errors += 1
                    self.status.last_error = text[:500]
                logger.warning("queue %s: %s; next receive in %.0fs", self.name, text, delay)
                stop.wait(delay)
                continue
            self._failures = 0
            with self.status.lock:
                self.status.state = "polling"
            if received == 0 and self.wait_seconds == 0:
                stop.wait(1.0)  # short polling: do not spin on an empty queue
        with self.status.lock:
            self.status.state = "stopped"
        logger.info("stopped polling %s", self.name)


class _InboxUnavailableError(TemporaryFailureError):
    code = "inbox_unavailable"
