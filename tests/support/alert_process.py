"""One alert-evaluating process for the multi-process test: argv = PostgreSQL URL, schema,
outbox folder, seconds. Evaluates every kind kept in the store as fast as it can for that
long (reminders every half second), e-mailing to the outbox."""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from sns_subscriber.actions.email import FileBackend
from sns_subscriber.alerts import AlertEvaluator, AlertKind, AlertSettings
from sns_subscriber.service.alerting import _email
from sns_subscriber.stores import open_store

ENDPOINT = "/budget-subscriber"
QUIET = "/quiet"


def main() -> None:
    url, schema, outbox, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    store = open_store(url, schema=schema)
    notify = _email("ops@example.com", "sns-subscriber@localhost", FileBackend(outbox))
    settings = AlertSettings(
        enabled=frozenset(AlertKind) - {AlertKind.STORE_ERRORS},
        renotify=timedelta(seconds=0.5),
        expect_within={QUIET: timedelta(seconds=1)},
        max_lag={ENDPOINT: timedelta(seconds=60)},
    )
    evaluator = AlertEvaluator(store, settings, notify)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            evaluator.evaluate()
    finally:
        store.close()


if __name__ == "__main__":
    main()
