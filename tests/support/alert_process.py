"""One alert-evaluating process for the multi-process test: argv = PostgreSQL URL, schema,
outbox folder, rounds. Evaluates ``rounds`` times as fast as it can, e-mailing to the outbox."""

from __future__ import annotations

import sys

from sns_subscriber.actions.email import FileBackend
from sns_subscriber.alerts import AlertEvaluator, AlertKind, AlertSettings
from sns_subscriber.service.alerting import _email
from sns_subscriber.stores import open_store


def main() -> None:
    url, schema, outbox, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = open_store(url, schema=schema)
    backend = FileBackend(outbox)
    notify = _email("ops@example.com", "sns-subscriber@localhost", backend)
    evaluator = AlertEvaluator(store, AlertSettings(enabled=frozenset({AlertKind.DEAD_LETTER})), notify)
    try:
        for _ in range(rounds):
            evaluator.evaluate()
    finally:
        store.close()


if __name__ == "__main__":
    main()
