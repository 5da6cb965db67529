"""Ingest rate while retention purges a large inbox vs without, same service, same run.

One ``sns-subscriber serve --no-worker`` with a SQLite inbox pre-filled (bulk insert) with
200,000 DONE messages finished 60 days ago. Round A: a load of ``CLIENTS`` keep-alive HTTP
clients (threads of this process, each waiting for its answer before the next POST) for
``duration`` seconds, nothing else running. Round B: ``sns-subscriber inbox purge
--older-than 30`` (another process: batches of 500 rows, one short transaction each) starts,
and the same load runs again for ``duration`` seconds with other distinct messages (so
neither round sends a duplicate). Reported: the two rates, their
ratio, whether the purge was still running when round B ended (it should be: the ratio is
meant to measure ingest *during* a purge), non-2xx answers (must be 0).

    python -m bench.retention [--messages 8000] [--duration 4] [--rows 200000]
"""

from __future__ import annotations

import argparse
import http.client
import sqlite3
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .common import (
    ENDPOINT,
    PYTHON,
    Message,
    MessageSet,
    child_env,
    count_rows,
    print_result,
    shared_messages,
    start_service,
    stop_process,
    stop_server,
    temp_dir,
    write_service_config,
)

CLIENTS = 8
TARGET = 0.5


@dataclass
class Load:
    answered: int
    non_2xx: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


def load(port: int, signed: MessageSet, messages: Sequence[Message], duration: float) -> Load:
    """POST ``messages`` (each once at most) from CLIENTS threads for ``duration`` seconds."""
    lock = threading.Lock()
    queue = iter(messages)
    counts = {"answered": 0, "non_2xx": 0}
    deadline = time.monotonic() + duration

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < deadline:
                with lock:
                    message = next(queue, None)
                if message is None:
                    return
                connection.request(
                    "POST", ENDPOINT, body=message.body, headers=signed.request_headers(message)
                )
                response = connection.getresponse()
                response.read()
                with lock:
                    counts["answered"] += 1
                    counts["non_2xx"] += not 200 <= response.status < 300
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(counts["answered"], counts["non_2xx"], time.monotonic() - started)


def fill(store_url: str, rows: int) -> None:
    """Migrate the inbox, then write ``rows`` old DONE messages straight into the file."""
    from sns_subscriber.stores import open_store  # noqa: PLC0415

    open_store(store_url).close()
    stamp = (datetime.now(UTC) - timedelta(days=60)).isoformat(timespec="microseconds")
    body = b'{"Type": "Notification", "Message": "an old budget alert"}' * 8
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
        conn.executemany(
            "INSERT INTO inbox (message_id, endpoint, topic_arn, message_type, subject, body, status, "
            "attempts, received_at, updated_at) VALUES (?, ?, 'arn', 'Notification', NULL, ?, 'done', 1, ?, ?)",
            ((f"old-{i:08d}", ENDPOINT, body, stamp, stamp) for i in range(rows)),
        )


def run(messages: int = 8000, duration: float = 4.0, rows: int = 200_000) -> dict[str, Any]:
    signed = shared_messages(messages)
    half = len(signed.messages) // 2
    with temp_dir("retention") as directory:
        cert_dir = signed.kit.write_cert_dir(directory / "certs")
        store_url = f"sqlite:///{directory / 'inbox.db'}"
        fill(store_url, rows)
        config = write_service_config(directory, store_url=store_url, cert_dir=cert_dir, worker=False)
        server = start_service(config, log=directory / "service.log", name="retention")
        purge: subprocess.Popen[bytes] | None = None
        try:
            quiet = load(server.port, signed, signed.messages[:half], duration)
            started = time.monotonic()
            purge = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "sns_subscriber",
                    "inbox",
                    "purge",
                    "--config",
                    str(config),
                    "--older-than",
                    "30",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=child_env(),
            )
            busy = load(server.port, signed, signed.messages[half:], duration)
            still_purging = purge.poll() is None
            output, _ = purge.communicate(timeout=300)
            purge_seconds = time.monotonic() - started
        finally:
            if purge is not None and purge.poll() is None:
                stop_process(purge.pid, purge)
            stop_server(server)
        remaining = count_rows(store_url)
    ratio = busy.rate / quiet.rate if quiet.rate else 0.0
    non_2xx = quiet.non_2xx + busy.non_2xx
    return {
        "quiet_per_s": quiet.rate,
        "purging_per_s": busy.rate,
        "ratio": ratio,
        "target": TARGET,
        "rows": rows,
        "purge_seconds": purge_seconds,
        "purge_output": output.decode("utf-8", "replace").strip(),
        "still_purging_at_end": still_purging,
        "non_2xx": non_2xx,
        "rows_left": remaining,
        "ok": non_2xx == 0 and ratio >= TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=8000)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    result = run(args.messages, args.duration, args.rows)
    print_result("retention", result)
    print(
        f"retention: ingest {result['purging_per_s']:.0f}/s during purge vs {result['quiet_per_s']:.0f}/s "
        f"without, ratio {result['ratio']:.2f} (target >= {TARGET}); purge of {result['rows']} rows took "
        f"{result['purge_seconds']:.1f} s (still running at the end of the round: {result['still_purging_at_end']}); "
        f"non-2xx {result['non_2xx']}"
    )


if __name__ == "__main__":
    main()
