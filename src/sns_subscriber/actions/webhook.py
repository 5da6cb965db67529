"""Forward messages to HTTP endpoints: plain JSON webhooks, Slack incoming webhooks and
Microsoft Teams Workflows webhooks (an Adaptive Card).

A POST that fails (network error, non-2xx) raises, so the worker retries the message with
backoff; a POST that succeeded is recorded in the action ledger and never repeated for that
message, even on redelivery or replay. With a secret, each request carries
``X-SNS-Subscriber-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`` and
``X-SNS-Subscriber-Timestamp``, so the receiver can check origin and freshness.

Each destination is paced (``pacer``: Slack allows about one message a second per webhook).
``429 Too Many Requests`` is not a failure: the pacer holds every request to that destination
for the ``Retry-After`` and the POST is tried again, within ``max_wait`` seconds in all; past
that, :class:`~sns_subscriber.pacing.RetryLater` makes the worker come back later without
counting an attempt. Messages to one destination therefore go out in order, however many.
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
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from ..delivery import Delivery
from ..exceptions import ConfigurationError, WebhookError
from ..pacing import Pacer, RetryLater, parse_retry_after
from .slack import slack_payload
from .teams import teams_payload

__all__ = ["WebhookAction", "WebhookError", "event_payload", "to_jsonable"]

PayloadFormat = Literal["json", "slack", "teams"]
PAYLOAD_FORMATS: Final = ("json", "slack", "teams")
_FORMATS: dict[str, Callable[[Delivery], dict[str, Any]]] = {
    "slack": slack_payload,
    "teams": teams_payload,
}
# A 429 without Retry-After: wait this long before trying again.
_DEFAULT_RETRY_AFTER = 1.0
# 429s waited out within one call before the message is put back for later.
_MAX_TRIES = 20


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
    """POST each message to ``url`` as JSON (``format="json"``), a Slack message (``"slack"``)
    or a Teams Adaptive Card (``"teams"``). ``pacer`` spaces the POSTs (share one per
    destination); ``max_wait`` bounds the waiting for ``Retry-After`` within one call."""

    def __init__(
        self,
        url: str,
        *,
        format: PayloadFormat = "json",
        secret: str | None = None,
        timeout: float = 10.0,
        producers: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
        pacer: Pacer | None = None,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("webhook url must be an http(s) URL", value=url)
        if format not in PAYLOAD_FORMATS:
            raise ConfigurationError(
                "webhook format must be one of " + ", ".join(PAYLOAD_FORMATS), value=format
            )
        self.url = url
        self.format = format
        self.secret = secret
        self.timeout = timeout
        self.producers = producers
        self.clock = clock
        self.pacer = pacer
        self.max_wait = max_wait
        self.sleep = sleep

    def __call__(self, delivery: Delivery) -> None:
        producer = getattr(delivery.event, "producer", None)
        if self.producers and producer not in self.producers:
            return
        payload = _FORMATS.get(self.format, event_payload)(delivery)
        # json.dumps escapes every quote, backslash and control character of the values.
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery.once("post", lambda: self.post(body, delivery.message_id))

    def post(self, body: bytes, message_id: str) -> int:
        """POST at the destination's pace; wait out 429s for up to ``max_wait`` seconds."""
        waited = 0.0
        for tries in range(1, _MAX_TRIES + 1):
            if self.pacer is not None:
                self.pacer.wait()
            status, retry_after = self._post_once(body, message_id)
            if status != 429:
                return status
            delay = _DEFAULT_RETRY_AFTER if retry_after is None else retry_after
            host = urlsplit(self.url).hostname
            # A destination answering 429 with "Retry-After: 0" forever must not pin the worker.
            if waited + delay > self.max_wait or tries == _MAX_TRIES:
                raise RetryLater(
                    f"{host} answered HTTP 429 (Retry-After {delay:g}s)",
                    delay=max(delay, 1.0),
                    message_id=message_id,
                )
            waited += delay
            if self.pacer is not None:
                self.pacer.hold(delay)  # every request to this destination waits, in order
            else:
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _post_once(self, body: bytes, message_id: str) -> tuple[int, float | None]:
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
            retry_after = parse_retry_after(response.getheader("Retry-After"))
        except (OSError, http.client.HTTPException) as exc:
            raise WebhookError(f"POST to {parts.hostname} failed: {exc}", message_id=message_id) from exc
        finally:
            connection.close()
        if response.status == 429:
            return 429, retry_after
        if not 200 <= response.status < 300:
            raise WebhookError(
                f"POST to {parts.hostname} answered HTTP {response.status}", message_id=message_id
            )
        return response.status, None
