"""Build the ``[[queues]]`` pollers: one per queue, each with the pipeline of an endpoint."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from ..aws.dlq import DeadLetterHandler
from ..aws.queues import Disposition, QueuePoller, RawQueueHandler, SQSMessage, envelope_handler
from ..outcome import Outcome
from ..subscriber import Subscriber
from ..verification import VerificationPolicy, Verifier
from .aws import aws_clients, configured_confirmer, localstack_hosts
from .config import Config

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["build_drainer", "build_pollers", "run_pollers"]

#: A queue keeps messages up to 14 days (SQS's longest retention). Only principals the queue
#: policy allows can put a message there, so the replay window is the retention, not the
#: HTTP endpoints' max_age_seconds: a poller that was down for a day must not reject a backlog.
QUEUE_MAX_AGE: Final = timedelta(days=14)


def _queue_subscriber(config: Config, runtime: Runtime, name: str, topics: tuple[str, ...]) -> Subscriber:
    policy = VerificationPolicy(
        allowed_topic_arns=topics,
        max_age=QUEUE_MAX_AGE,
        clock_skew=timedelta(seconds=config.get("verification.clock_skew_seconds")),
        signature_versions=frozenset(config.get("verification.signature_versions")),
    )
    trusted = localstack_hosts(config)
    options: dict[str, Any] = {
        "cert_dir": config.path("verification.cert_dir"),
        "fetch": config.get("verification.fetch"),
        "fetch_timeout": config.get("verification.fetch_timeout_seconds"),
    }
    if trusted:
        options["trusted_url_hosts"] = trusted
    return Subscriber(
        Verifier(policy, **options),
        runtime.store,
        endpoint=name,
        # Cross-account subscriptions send a SubscriptionConfirmation to the queue.
        confirmer=configured_confirmer(config, "auto", trusted),
        max_body_bytes=config.get("verification.max_body_bytes"),
    )


def build_pollers(
    runtime: Runtime, *, on_message: Callable[[str, Disposition], None] | None = None
) -> list[QueuePoller]:
    config = runtime.config
    clients = aws_clients(config)
    pollers = []
    for queue in config.queues:
        handle: Callable[..., Any]
        if queue.raw:
            handle = RawQueueHandler(
                runtime.store,
                endpoint=queue.endpoint,
                topic_arn=queue.topics[0],
                max_body_bytes=config.get("verification.max_body_bytes"),
            )
        else:
            handle = envelope_handler(_queue_subscriber(config, runtime, queue.endpoint, queue.topics))
        pollers.append(
            QueuePoller(
                clients.sqs(),
                queue.url,
                handle,
                name=queue.name,
                batch_size=queue.batch_size,
                wait_seconds=queue.wait_seconds,
                visibility_timeout=queue.visibility_timeout_seconds,
                on_message=on_message,
                on_rejected=_rejections(runtime, queue.endpoint),
            )
        )
    return pollers


def _rejections(runtime: Runtime, source: str) -> Callable[[SQSMessage, str], None]:
    from ..stores import Rejection  # noqa: PLC0415

    def record(message: SQSMessage, reason: str) -> None:
        runtime.store.record_rejection(Rejection(source=source, message_id=message.message_id, reason=reason))

    return record


def run_pollers(pollers: list[QueuePoller], stop: threading.Event) -> list[threading.Thread]:
    """Start one thread per poller; they end when ``stop`` is set."""
    threads = [
        threading.Thread(target=p.run, args=(stop,), name=f"sqs-{p.name}", daemon=True) for p in pollers
    ]
    for thread in threads:
        thread.start()
    return threads


def build_drainer(runtime: Runtime, queue_url: str) -> tuple[QueuePoller, DeadLetterHandler]:
    """A poller over a dead-letter queue whose envelopes go to the pipeline of the endpoint or
    queue accepting their topic (with a queue's replay window: dead letters are old)."""
    config = runtime.config
    clients = aws_clients(config)
    sqs = clients.sqs()
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    subscribers = [_queue_subscriber(config, runtime, e.path, e.topics) for e in config.endpoints] + [
        _queue_subscriber(config, runtime, q.endpoint, q.topics) for q in config.queues if not q.raw
    ]

    def route(topic_arn: str) -> Callable[[SQSMessage], Outcome] | None:
        for subscriber in subscribers:
            if subscriber.verifier.policy.topic_allowed(topic_arn):
                return envelope_handler(subscriber)
        return None

    bare = RawQueueHandler(
        runtime.store,
        endpoint=f"dlq:{name}",
        topic_arn=arn,
        max_body_bytes=config.get("verification.max_body_bytes"),
    )
    handler = DeadLetterHandler(route, bare)
    poller = QueuePoller(
        sqs,
        queue_url,
        handler,
        name=name,
        visibility_timeout=60,
        on_rejected=_rejections(runtime, f"dlq:{name}"),
    )
    return poller, handler
