"""Forward messages to HTTP endpoints: plain JSON webhooks and Slack incoming webhooks.

A POST that fails (network error, non-2xx) raises, so the worker retries the message with
backoff; a POST that succeeded is recorded in the action ledger and never repeated for that
message, even on redelivery or replay. With a secret, each request carries
``X-SNS-Subscriber-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`` and
``X-SNS-Subscriber-Timestamp``, so the receiver can check origin and freshness.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from ..delivery import Delivery
from ..exceptions import ConfigurationError, SNSSubscriberError
from .slack import slack_payload

__all__ = ["WebhookAction", "WebhookError", "event_payload", "to_jsonable"]

PayloadFormat = Literal["json", "slack"]


class WebhookError(SNSSubscriberError):
    """The webhook did not accept the POST (the worker retries)."""

    code = "webhook_failed"


def to_jsonable(value: Any) -> Any:
    """Typed producer values -> JSON: Decimals as strings (no float rounding), times ISO-8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "raw"
        }
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def event_payload(delivery: Delivery) -> dict[str, Any]:
    """The JSON document a webhook receives. Never includes the UnsubscribeURL."""
    message = delivery.message
    event = delivery.event
    return {
        "message_id": message.message_id,
        "topic_arn": message.topic_arn,
        "subject": getattr(message, "subject", None),
        "timestamp": getattr(message, "timestamp", None),
        "producer": getattr(event, "producer", None),
        "event": to_jsonable(event) if event is not None else None,
        "message": message.message,
        # True when the message ends an earlier problem (an alarm back to OK).
        "resolution": delivery.resolution,
    }


class WebhookAction:
    """POST each message to ``url`` as JSON (``format="json"``) or as a Slack message."""

    def __init__(
        self,
        url: str,
        *,
        format: PayloadFormat = "json",
        secret: str | None = None,
        timeout: float = 10.0,
        producers: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("webhook url must be an http(s) URL", value=url)
        if format not in ("json", "slack"):
            raise ConfigurationError("webhook format must be json or slack", value=format)
        self.url = url
        self.format = format
        self.secret = secret
        self.timeout = timeout
        self.producers = producers
        self.clock = clock

    def __call__(self, delivery: Delivery) -> None:
        producer = getattr(delivery.event, "producer", None)
        if self.producers and producer not in self.producers:
            return
        payload = slack_payload(delivery) if self.format == "slack" else event_payload(delivery)
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery.once("post", lambda: self.post(body, delivery.message_id))

    def post(self, body: bytes, message_id: str) -> int:
        parts = urlsplit(self.url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "sns-subscriber",
            "X-SNS-Message-Id": message_id,
        }
        if self.secret:
            stamp = str(int(self.clock()))
            digest = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers["X-SNS-Subscriber-Timestamp"] = stamp
            headers["X-SNS-Subscriber-Signature"] = f"sha256={digest}"
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname or "", parts.port, timeout=self.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read(65536)
        except (OSError, http.client.HTTPException) as exc:
            raise WebhookError(f"POST to {parts.hostname} failed: {exc}", message_id=message_id) from exc
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise WebhookError(
                f"POST to {parts.hostname} answered HTTP {response.status}", message_id=message_id
            )
        return response.status
