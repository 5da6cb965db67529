"""Console latency on a big inbox: API calls and the list page over 1,000,000 messages.

For each store (a SQLite file, then a PostgreSQL database created for the run and dropped
afterwards) the inbox is bulk-loaded (SQLite ``executemany``, PostgreSQL ``COPY``; the
store's own indexes dropped during the load and rebuilt after it, as a restore would), then
``sns-subscriber console`` runs against it as a child process and every call below is timed
over HTTP on 127.0.0.1 (``rounds`` times each, after one warm-up call):

- ``GET /api/messages`` (first page, 50 newest), filtered by status, by endpoint + producer,
  by topic + time range, 20 pages deep through ``next_cursor``, a subject search for a rare
  word (bounded scan), one message, ``/api/stats``, and the HTML list page ``/messages``.

The figure is the median and worst of each call, in ms; the target is that every median is
under 200 ms.

    python -m bench.console [--messages 1000000] [--rounds 10] [--store sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import re
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from sns_subscriber.stores import SQLiteStore
from sns_subscriber.stores.postgres import PostgresStore

from .common import PYTHON, Server, free_port, print_result, start_server, stop_server, temp_dir

TARGET_MS = 200.0
TOKEN = "bench-console-token-0123456789abcdef"
PG_ADMIN = os.environ.get("SNS_SUBSCRIBER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ENDPOINTS = ("/budget-subscriber", "/alarms")
TOPICS = tuple(
    f"arn:aws:sns:us-east-1:123456789012:{name}" for name in ("budgets", "billing", "alarms", "health")
)
PRODUCERS = ("budgets", "cloudwatch", "unknown", None)
COLUMNS = (
    "message_id, endpoint, topic_arn, message_type, subject, body, raw_delivery, status, attempts, last_error, "
    "received_at, updated_at, producer"
)
SPAN = timedelta(days=30)


def rows(count: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """``count`` messages spread over 30 days, oldest first: 97 % done, 2 % dead, 1 % waiting."""
    rng = random.Random(7)
    step = SPAN / count
    start = now - SPAN
    for index in range(count):
        received = start + step * index
        topic = TOPICS[index % len(TOPICS)]
        endpoint = ENDPOINTS[0] if topic != TOPICS[2] else ENDPOINTS[1]
        roll = rng.random()
        status = "done" if roll < 0.97 else ("dead" if roll < 0.99 else "received")
        producer = None if status == "received" else PRODUCERS[index % 3]
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        subject = f"AWS Budgets: team-{index % 500} has exceeded your alert threshold"
        if index % 250_000 == 1:
            subject = f"needle {index}: the rare subject a search looks for"
        body = json.dumps({"Type": "Notification", "MessageId": message_id, "Message": subject}).encode()
        error = "WebhookError: POST answered HTTP 500" if status == "dead" else None
        yield (
            message_id, endpoint, topic, "Notification", subject, body, 0, status, 1, error,
            received, received + timedelta(seconds=1), producer,
        )  # fmt: skip


def load_sqlite(path: Path, count: int, now: datetime) -> float:
    with SQLiteStore(path, synchronous="NORMAL") as store:
        store.migrate()
    started = time.monotonic()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA journal_mode = OFF")  # a bulk load: no WAL copy of 1M rows
        conn.execute("BEGIN")
        marks = ", ".join("?" * 13)
        ts = lambda value: value.isoformat(timespec="microseconds")  # noqa: E731 - the store's format
        conn.executemany(
            f"INSERT INTO inbox ({COLUMNS}) VALUES ({marks})",
            ((*row[:10], ts(row[10]), ts(row[11]), row[12]) for row in rows(count, now)),
        )
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        # No ANALYZE: the store never runs one, so the planner works without statistics here too.
    finally:
        conn.close()
    return time.monotonic() - started


def load_postgres(url: str, count: int, now: datetime) -> float:
    with PostgresStore(url) as store:
        store.migrate()
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'sns_subscriber' "
            "AND tablename = 'inbox' AND indexname LIKE 'inbox\\_%' AND indexname <> 'inbox_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX sns_subscriber.{name}")
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY sns_subscriber.inbox ({COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows(count, now):
                copy.write_row(row)
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("ANALYZE sns_subscriber.inbox")  # what autovacuum does after a load
    return time.monotonic() - started


def write_config(directory: Path, store_url: str, port: int) -> Path:
    config = directory / "console.toml"
    config.write_text(
        f'[store]\nurl = "{store_url}"\nsynchronous = "normal"\n[service]\nlog_level = "warning"\n'
        f"[console]\nenabled = true\nport = {port}\n"
        f'[[endpoints]]\npath = "{ENDPOINTS[0]}"\ntopics = ["{TOPICS[0]}"]\nconfirm = "manual"\n',
        encoding="utf-8",
    )
    return config


class Client:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""

    def get(self, path: str, *, api: bool = True) -> tuple[int, bytes, float]:
        headers = {"Authorization": f"Bearer {TOKEN}"} if api else {"Cookie": self.cookie}
        started = time.perf_counter()
        self.connection.request("GET", path, headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - started) * 1000

    def log_in(self) -> None:
        self.connection.request("GET", "/login")
        response = self.connection.getresponse()
        page = response.read().decode()
        nonce_cookie = response.getheader("set-cookie", "").split(";")[0]
        found = re.search(r'name="login_nonce" value="([^"]+)"', page)
        assert found is not None
        form = f"login_nonce={found.group(1)}&token={TOKEN}&next=/"
        self.connection.request(
            "POST", "/login", body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": nonce_cookie},
        )  # fmt: skip
        response = self.connection.getresponse()
        response.read()
        session = next(
            v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie" and "session=" in v
        )
        self.cookie = session


def measure(client: Client, now: datetime, rounds: int) -> dict[str, dict[str, float]]:
    since = (now - timedelta(days=3)).isoformat().replace("+00:00", "Z")
    until = (now - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    status, body, _ = client.get("/api/messages?limit=1")
    assert status == 200, body
    some_id = json.loads(body)["messages"][0]["message_id"]

    def deep() -> Callable[[], tuple[int, bytes, float]]:
        cursors: list[str] = []
        cursor = None
        for _ in range(20):
            _, page, _ = client.get("/api/messages" + (f"?cursor={cursor}" if cursor else ""))
            cursor = json.loads(page)["next_cursor"]
            cursors.append(cursor)
        return lambda: client.get(f"/api/messages?cursor={cursors[-1]}")

    calls: dict[str, Callable[[], tuple[int, bytes, float]]] = {
        "api newest 50": lambda: client.get("/api/messages"),
        "api status=dead": lambda: client.get("/api/messages?status=dead"),
        "api endpoint+producer": lambda: client.get(
            f"/api/messages?endpoint={ENDPOINTS[0]}&producer=budgets"
        ),
        "api topic+time range": lambda: client.get(
            f"/api/messages?topic={TOPICS[1]}&since={since}&until={until}"
        ),
        "api page 21 (cursor)": deep(),
        "api subject search": lambda: client.get("/api/messages?q=needle"),
        "api one message": lambda: client.get(f"/api/messages/{some_id}"),
        "api stats": lambda: client.get("/api/stats"),
        "page /messages": lambda: client.get("/messages", api=False),
        "page /messages?status=dead": lambda: client.get("/messages?status=dead", api=False),
        "page / (overview)": lambda: client.get("/", api=False),
    }
    client.log_in()
    results: dict[str, dict[str, float]] = {}
    for name, call in calls.items():
        status, body, first = call()  # warm-up (for stats: the uncached computation)
        assert status == 200, (name, status, body[:300])
        times = []
        for _ in range(rounds):
            status, _, elapsed = call()
            assert status == 200, name
            times.append(elapsed)
        results[name] = {"median_ms": statistics.median(times), "max_ms": max(times), "first_ms": first}
    return results


def run_store(kind: str, count: int, rounds: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    with temp_dir(f"console-{kind}") as directory:
        database = None
        server: Server | None = None
        try:
            if kind == "sqlite":
                path = directory / "inbox.db"
                load_seconds = load_sqlite(path, count, now)
                url = f"sqlite:///{path}"
            else:
                database = f"sns_bench_console_{os.getpid()}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f"CREATE DATABASE {database}")
                url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
                load_seconds = load_postgres(url, count, now)
            port = free_port()
            config = write_config(directory, url, port)
            server = start_server(
                [PYTHON, "-m", "sns_subscriber", "console", "--config", str(config)],
                port,
                log=directory / "console.log",
                name=f"console ({kind})",
                env={"SNS_SUBSCRIBER_CONSOLE_TOKEN": TOKEN},
                ready_path="/login",
            )
            calls = measure(Client(port), now, rounds)
        finally:
            stop_server(server)
            if database is not None:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    worst = max(c["median_ms"] for c in calls.values())
    return {"messages": count, "load_seconds": load_seconds, "calls": calls, "worst_median_ms": worst}


def run(
    count: int = 1_000_000, rounds: int = 10, stores: tuple[str, ...] = ("sqlite", "postgres")
) -> dict[str, Any]:
    result: dict[str, Any] = {"target_ms": TARGET_MS}
    for kind in stores:
        result[kind] = run_store(kind, count, rounds)
    result["worst_median_ms"] = max(result[kind]["worst_median_ms"] for kind in stores)
    result["ok"] = result["worst_median_ms"] < TARGET_MS
    return result


def table(result: dict[str, Any]) -> str:
    kinds = [k for k in ("sqlite", "postgres") if k in result]
    out = io.StringIO()
    names = list(result[kinds[0]]["calls"])
    out.write("| call | " + " | ".join(f"{k} median / max (first) ms" for k in kinds) + " |\n")
    out.write("|---|" + "---|" * len(kinds) + "\n")
    for name in names:
        cells = [
            "{median_ms:.1f} / {max_ms:.1f} ({first_ms:.0f})".format(**result[k]["calls"][name])
            for k in kinds
        ]
        out.write(f"| {name} | " + " | ".join(cells) + " |\n")
    loads = ", ".join(f"{k} {result[k]['load_seconds']:.0f} s" for k in kinds)
    out.write(f"\n{result[kinds[0]]['messages']:,} messages; bulk load {loads}\n")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    result = run(args.messages, args.rounds, stores)
    print_result("console", result)
    print(table(result))


if __name__ == "__main__":
    main()
