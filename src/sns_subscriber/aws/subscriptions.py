"""The SNS subscriptions this receiver needs: make them exist (``apply``) and look at them
(``check``).

For every endpoint and every concrete topic ARN, a subscription of ``public URL + path``
(with the endpoint's basic-auth credentials in the URL), and for every queue a subscription of
the queue, each with

- ``RawMessageDelivery`` as the endpoint or queue expects it;
- a ``RedrivePolicy`` to a dead-letter queue, so SNS keeps what it could not deliver instead
  of dropping it after its retries;
- for HTTP(S), :data:`DELIVERY_POLICY`;
- for queues, a queue policy statement letting ``sns.amazonaws.com`` send from that topic
  (``aws:SourceArn``), as AWS requires.

Passwords are never printed: URLs are shown with the password replaced by ``****`` (which is
also what SNS itself shows in ``ListSubscriptions``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DELIVERY_POLICY",
    "DLQ_NAME",
    "PENDING_DEADLINE",
    "Inbox",
    "Row",
    "Target",
    "allow_topics_statements",
    "apply",
    "check",
    "ensure_dead_letter_queue",
    "ensure_queue_policy",
    "redact_url",
]

#: SNS's HTTP(S) retry policy for our endpoints: 3 immediate retries, 2 after 1 s, then an
#: exponential back-off from 1 s to 60 s over 10 retries, then 35 retries a minute apart:
#: 50 retries over about 40 minutes, within SNS's limits (100 retries, one hour, delays up to
#: 3600 s). A receiver down for a deploy or a database failover loses nothing; what is still
#: undelivered after that goes to the dead-letter queue (``RedrivePolicy``).
DELIVERY_POLICY: Final = {
    "healthyRetryPolicy": {
        "minDelayTarget": 1,
        "maxDelayTarget": 60,
        "numRetries": 50,
        "numNoDelayRetries": 3,
        "numMinDelayRetries": 2,
        "numMaxDelayRetries": 35,
        "backoffFunction": "exponential",
    },
    "throttlePolicy": {"maxReceivesPerSecond": 50},
}

#: SNS deletes a subscription left in PendingConfirmation this long.
PENDING_DEADLINE: Final = timedelta(hours=48)


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info replaced by ``****``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:****@{host}"))


@dataclass(frozen=True, slots=True)
class Target:
    """One subscription the configuration needs."""

    name: str  # the endpoint path, or "sqs:<queue name>"
    topic_arn: str
    protocol: str  # "http", "https" or "sqs"
    endpoint: str  # the URL (with credentials) or the queue ARN
    raw: bool
    queue_url: str | None = None

    @property
    def shown_endpoint(self) -> str:
        return redact_url(self.endpoint)


@dataclass
class Row:
    """What ``apply`` or ``check`` found (and did) for one target."""

    target: str
    topic_arn: str
    endpoint: str  # redacted
    found: str  # missing, pending, confirmed
    subscription_arn: str | None = None
    problems: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    last_message_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "topic_arn": self.topic_arn,
            "endpoint": self.endpoint,
            "found": self.found,
            "subscription_arn": self.subscription_arn,
            "problems": self.problems,
            "done": self.done,
            "last_message_at": self.last_message_at.isoformat() if self.last_message_at else None,
        }


@dataclass(frozen=True)
class Inbox:
    """What the inbox knows, for ``check``: when a pending confirmation arrived, and the last
    message received, per (target name, topic)."""

    pending_since: Callable[[str, str], datetime | None] = lambda _t, _a: None
    last_message_at: Callable[[str, str], datetime | None] = lambda _t, _a: None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def _subscriptions(sns: Any, topic_arn: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        found.extend(page.get("Subscriptions", []))
    return found


def _same_endpoint(target: Target, subscription: dict[str, Any]) -> bool:
    if subscription.get("Protocol") != target.protocol:
        return False
    if target.protocol == "sqs":
        return bool(subscription.get("Endpoint") == target.endpoint)
    # SNS shows a password in the URL as ****: compare what both show.
    return redact_url(subscription.get("Endpoint", "")) == target.shown_endpoint


def _wrong_endpoint(target: Target, subscription: dict[str, Any]) -> bool:
    """An HTTP(S) subscription to the same path elsewhere: a moved host, an old scheme."""
    if target.protocol == "sqs" or subscription.get("Protocol") not in ("http", "https"):
        return False
    endpoint = subscription.get("Endpoint", "")
    return urlsplit(endpoint).path == urlsplit(target.endpoint).path and not _same_endpoint(
        target, subscription
    )


def _is_pending(subscription: dict[str, Any]) -> bool:
    return subscription.get("SubscriptionArn") in ("PendingConfirmation", None, "")


def _desired_attributes(target: Target, dlq_arn: str | None) -> dict[str, str]:
    attributes = {"RawMessageDelivery": "true" if target.raw else "false"}
    if dlq_arn:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn})
    if target.protocol in ("http", "https"):
        attributes["DeliveryPolicy"] = json.dumps(DELIVERY_POLICY)
    return attributes


def _attribute_problems(target: Target, attributes: dict[str, str]) -> list[str]:
    problems = []
    raw = attributes.get("RawMessageDelivery", "false").lower() == "true"
    if raw != target.raw:
        problems.append(
            f"raw delivery is {'on' if raw else 'off'}, {target.name} expects it {'on' if target.raw else 'off'}"
        )
    if not attributes.get("RedrivePolicy"):
        problems.append("no redrive policy (SNS drops what it cannot deliver)")
    return problems


def _differs(name: str, wanted: str, actual: str | None) -> bool:
    if actual is None:
        return True
    if name in ("RedrivePolicy", "DeliveryPolicy"):
        try:
            current = json.loads(actual)
        except ValueError:
            return True
        desired = json.loads(wanted)
        # AWS adds defaults (sicklyRetryPolicy, guaranteed, ...): compare what we set.
        return any(current.get(key) != value for key, value in desired.items())
    return wanted.lower() != actual.lower()


def apply(
    sns_for: Callable[[str], Any],
    targets: Sequence[Target],
    *,
    dlq_arn: str | None,
    dry_run: bool = False,
    sqs: Any = None,
) -> list[Row]:
    """Make every target's subscription exist with the right attributes; return what was
    found and done (with ``dry_run``: what would be done). A second run does nothing."""
    rows = []
    for target in targets:
        sns = sns_for(_region(target.topic_arn))
        row = Row(target.name, target.topic_arn, target.shown_endpoint, "missing")
        rows.append(row)
        if target.protocol == "sqs" and target.queue_url and sqs is not None:
            statements = allow_topics_statements(target.endpoint, [target.topic_arn])
            if ensure_queue_policy(sqs, target.queue_url, statements, dry_run=dry_run):
                row.done.append("queue policy: allow the topic to send")
        wanted = _desired_attributes(target, dlq_arn)
        existing = [s for s in _subscriptions(sns, target.topic_arn) if _same_endpoint(target, s)]
        if not existing:
            row.done.append("subscribe")
            if not dry_run:
                answer = sns.subscribe(
                    TopicArn=target.topic_arn,
                    Protocol=target.protocol,
                    Endpoint=target.endpoint,
                    Attributes=wanted,
                    ReturnSubscriptionArn=True,
                )
                row.subscription_arn = answer.get("SubscriptionArn")
            continue
        subscription = existing[0]
        if _is_pending(subscription):
            row.found = "pending"
            row.problems.append("pending confirmation (the service confirms it when SNS posts the request)")
            continue
        row.found = "confirmed"
        row.subscription_arn = subscription["SubscriptionArn"]
        current = sns.get_subscription_attributes(SubscriptionArn=row.subscription_arn)["Attributes"]
        for name, value in wanted.items():
            if _differs(name, value, current.get(name)):
                row.done.append(f"set {name}")
                if not dry_run:
                    sns.set_subscription_attributes(
                        SubscriptionArn=row.subscription_arn, AttributeName=name, AttributeValue=value
                    )
    return rows


def check(
    sns_for: Callable[[str], Any],
    targets: Sequence[Target],
    inbox: Inbox | None = None,
    *,
    sqs: Any = None,
) -> list[Row]:
    """Report each target's subscription: missing, pending (with its age and SNS's 48-hour
    deadline), raw-delivery mismatch, no redrive policy, wrong endpoint URL, and the last
    message the inbox received."""
    inbox = inbox or Inbox()
    rows = []
    for target in targets:
        sns = sns_for(_region(target.topic_arn))
        row = Row(target.name, target.topic_arn, target.shown_endpoint, "missing")
        row.last_message_at = inbox.last_message_at(target.name, target.topic_arn)
        rows.append(row)
        subscriptions = _subscriptions(sns, target.topic_arn)
        existing = [s for s in subscriptions if _same_endpoint(target, s)]
        for wrong in (s for s in subscriptions if _wrong_endpoint(target, s)):
            row.problems.append(f"wrong endpoint URL: {redact_url(wrong.get('Endpoint', ''))}")
        if target.protocol == "sqs" and target.queue_url and sqs is not None:
            statements = allow_topics_statements(target.endpoint, [target.topic_arn])
            if ensure_queue_policy(sqs, target.queue_url, statements, dry_run=True):
                row.problems.append("the queue policy does not let the topic send")
        if not existing:
            row.problems.insert(0, "missing")
            continue
        subscription = existing[0]
        if _is_pending(subscription):
            row.found = "pending"
            since = inbox.pending_since(target.name, target.topic_arn)
            if since is None:
                row.problems.append("pending confirmation (age unknown; SNS deletes it after 48 h)")
            else:
                age = inbox.now() - since
                deadline = since + PENDING_DEADLINE
                row.problems.append(
                    f"pending confirmation for {_duration(age)}; SNS deletes it at {deadline:%Y-%m-%d %H:%M} UTC"
                )
            continue
        row.found = "confirmed"
        row.subscription_arn = subscription["SubscriptionArn"]
        attributes = sns.get_subscription_attributes(SubscriptionArn=row.subscription_arn)["Attributes"]
        row.problems.extend(_attribute_problems(target, attributes))
    return rows


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


# -- queue policies --------------------------------------------------------------------


def _sid(topic_arn: str) -> str:
    # Sids are [A-Za-z0-9]; one per topic keeps re-runs idempotent.
    return "snssubscriber" + "".join(c for c in topic_arn.split(":", 3)[-1] if c.isalnum())


def allow_topics_statements(queue_arn: str, topic_arns: Iterable[str]) -> list[dict[str, Any]]:
    """Queue policy statements letting SNS send from each topic (and only from it)."""
    return [
        {
            "Sid": _sid(topic),
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
        }
        for topic in topic_arns
    ]


def ensure_queue_policy(sqs: Any, queue_url: str, statements: list[dict[str, Any]], *, dry_run: bool) -> bool:
    """Add or correct our statements (matched by Sid) in the queue policy, keeping the others;
    True if it changed (or, with ``dry_run``, would change)."""
    current = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"]).get("Attributes", {})
    policy: dict[str, Any] = (
        json.loads(current["Policy"]) if current.get("Policy") else {"Version": "2012-10-17", "Statement": []}
    )
    statement = policy.get("Statement", [])
    present: list[dict[str, Any]] = [statement] if isinstance(statement, dict) else list(statement)
    by_sid = {s.get("Sid"): s for s in present}
    changed = [s for s in statements if by_sid.get(s["Sid"]) != s]
    if not changed:
        return False
    if not dry_run:
        ours = {s["Sid"] for s in changed}
        policy["Statement"] = [s for s in present if s.get("Sid") not in ours] + changed
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return True


#: The name of the dead-letter queue ``apply --dead-letter-queue create`` makes.
DLQ_NAME: Final = "sns-subscriber-dlq"


def ensure_dead_letter_queue(sqs: Any, topic_arns: Sequence[str], *, dry_run: bool) -> tuple[str, list[str]]:
    """Create (or reuse) :data:`DLQ_NAME` with a policy letting every topic send to it; return
    its ARN and what was done. SQS keeps its messages 14 days, the longest it can."""
    done: list[str] = []
    try:
        url = sqs.get_queue_url(QueueName=DLQ_NAME)["QueueUrl"]
    except Exception as exc:  # botocore's QueueDoesNotExist is generated per client
        if "NonExistentQueue" not in str(exc) and "QueueDoesNotExist" not in type(exc).__name__:
            raise
        done.append(f"create queue {DLQ_NAME}")
        if dry_run:
            return f"(new) {DLQ_NAME}", done
        url = sqs.create_queue(QueueName=DLQ_NAME, Attributes={"MessageRetentionPeriod": "1209600"})[
            "QueueUrl"
        ]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if ensure_queue_policy(sqs, url, allow_topics_statements(arn, topic_arns), dry_run=dry_run):
        done.append(f"queue policy of {DLQ_NAME}: allow the topics to send")
    return arn, done
