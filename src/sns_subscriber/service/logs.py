"""Log set-up for the service: text or one JSON object per line.

Nothing logged carries a secret or an UnsubscribeURL: messages are logged by id and topic.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from ..redaction import terminal_safe

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")

# Log records carry these attributes (``extra={"sns_message_id": ...}``; prefixed so they never
# clash with LogRecord's own); JSON lines carry them as fields of these names.
_EXTRA = {
    "sns_message_id": "message_id",
    "sns_endpoint": "endpoint",
    "sns_topic_arn": "topic_arn",
    "sns_result": "result",
}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for attribute, key in _EXTRA.items():
            value = getattr(record, attribute, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """One line per record. A message may quote producer text (a budget name, an alarm
    reason, a handler's error): its control characters are shown escaped, so nobody who can
    put text into a signed message can forge a log line or drive the operator's terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = terminal_safe(record.message)
        return super().formatMessage(record)


def configure_logging(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
