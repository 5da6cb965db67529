"""The one place that turns a result or an error into an HTTP answer for SNS.

SNS retries 5xx and time-outs and never retries 2xx-4xx (README: Status codes), so: 4xx for
anything that will never succeed, 503 only for our own temporary failures, 500 for bugs.
Bodies are small JSON objects that never carry secrets, offending values or stack traces.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from .exceptions import (
    AuthenticationRequiredError,
    MessageTooLargeError,
    MethodNotAllowedError,
    RejectedMessageError,
    SNSSubscriberError,
    TemporaryFailureError,
    VerificationError,
)

__all__ = ["RETRY_AFTER", "Outcome", "outcome_for_error"]

logger = logging.getLogger("sns_subscriber")

_JSON: Final = {"content-type": "application/json"}
#: Shared by every answer without extra headers: read-only, so nobody can change it for all.
_JSON_ONLY: Final[Mapping[str, str]] = MappingProxyType(_JSON)
_quote: Final = json.encoder.encode_basestring_ascii
#: Retry-After (seconds) of every 503: SNS schedules its own retries (its delivery policy), but
#: proxies, load balancers and other clients read this header.
RETRY_AFTER: Final = "20"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer: status, headers and a small JSON body.

    ``result`` is a stable word for logs and metrics: ``accepted``, ``duplicate``,
    ``confirmed``, ``pending``, ``unsubscribed``, or the error code of a rejection.
    """

    status: int
    result: str
    detail: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _JSON_ONLY)
    message_id: str | None = None

    @property
    def body(self) -> bytes:
        # The same bytes json.dumps({"result": ..., "detail": ..., "message_id": ...}) gives,
        # built from the C string encoder: this runs for every message.
        parts = ['{"result": ', _quote(self.result)]
        if self.detail:
            parts += [', "detail": ', _quote(self.detail)]
        if self.message_id:
            parts += [', "message_id": ', _quote(self.message_id)]
        parts.append("}")
        return "".join(parts).encode("ascii")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @classmethod
    def success(cls, result: str, *, message_id: str | None = None, detail: str | None = None) -> Outcome:
        return cls(200, result, detail, message_id=message_id)


def _status_for(exc: SNSSubscriberError) -> int:
    if isinstance(exc, MessageTooLargeError):
        return 413
    if isinstance(exc, AuthenticationRequiredError):
        return 401
    if isinstance(exc, VerificationError):
        return 403
    if isinstance(exc, MethodNotAllowedError):
        return 405
    if isinstance(exc, RejectedMessageError):
        return 400
    if isinstance(exc, TemporaryFailureError):
        return 503
    return 500


class LogBudget:
    """At most ``per_second`` log lines a second for one kind of answer.

    Anyone can POST junk, and every refusal would otherwise write a line: a stranger would
    decide how fast the log grows. Lines over the budget are counted, not written, and the next
    line written says how many were held back; metrics still count every answer.
    """

    def __init__(self, per_second: int = 10, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self._lock = threading.Lock()
        self._window_start = -math.inf
        self._written = 0
        self._held_back = 0

    def take(self) -> int | None:
        """None: do not write this line; else how many lines were held back before it."""
        with self._lock:
            now = self.clock()
            if now - self._window_start >= 1.0:
                self._window_start, self._written = now, 0
            if self._written >= self.per_second:
                self._held_back += 1
                return None
            self._written += 1
            held, self._held_back = self._held_back, 0
            return held


#: Refusals (4xx) and temporary failures (503) each get their own budget; bugs (500) are always
#: logged, with their traceback.
REJECTION_LOG: Final = LogBudget()
TEMPORARY_FAILURE_LOG: Final = LogBudget()


def _held_note(held: int) -> str:
    return f" ({held} similar line(s) held back)" if held else ""


def outcome_for_error(exc: BaseException) -> Outcome:
    """Map any exception to the answer SNS should get, and log it once at the right level."""
    if not isinstance(exc, SNSSubscriberError):
        logger.exception("internal error while handling an SNS request", exc_info=exc)
        return Outcome(500, "internal_error")
    status = _status_for(exc)
    extra = {
        "sns_message_id": exc.message_id,
        "sns_topic_arn": exc.topic_arn,
        "sns_result": exc.code,
    }
    if status == 500:
        logger.error("unexpected error: %s", exc, extra=extra)
    elif status == 503:
        if (held := TEMPORARY_FAILURE_LOG.take()) is not None:
            logger.warning("temporary failure, SNS will retry: %s%s", exc, _held_note(held), extra=extra)
    elif (held := REJECTION_LOG.take()) is not None:
        logger.info("rejected (%d %s): %s%s", status, exc.code, exc, _held_note(held), extra=extra)
    headers = dict(_JSON)
    if status == 401:
        headers["www-authenticate"] = 'Basic realm="sns-subscriber", charset="UTF-8"'
    if status == 405:
        headers["allow"] = "POST"
    if status == 503:
        headers["retry-after"] = RETRY_AFTER
    return Outcome(status, exc.code, exc.reason, headers, exc.message_id)
