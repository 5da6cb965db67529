"""Ingest throughput with PostgreSQL and two receiver processes vs the SQLite figure of ingest.

Two separate ``sns-subscriber serve --no-worker`` processes on two ports share one PostgreSQL
database (created for the run on 127.0.0.1:5432, dropped afterwards); two wrk processes
(``-t1 -c32`` each, so ``-t2 -c64`` in total like the SQLite run) load them at the same time
with disjoint halves of the messages. The figure is the sum of both rates. No change to the
service is needed for this (no ``--processes`` option).

Each round measures the SQLite service (``bench.ingest``, one receiver, same messages) and then
the two PostgreSQL receivers, back to back; the ratio is the median over rounds.

    python -m bench.postgres_ingest [--messages 30000] [--duration 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import Any

from . import ingest
from .common import (
    ENDPOINT,
    Server,
    WrkResult,
    count_rows,
    finish_wrk,
    print_result,
    shared_messages,
    start_service,
    start_wrk,
    stop_server,
    temp_dir,
    write_messages_file,
    write_service_config,
    write_wrk_script,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
RECEIVERS = 2


def create_database(name: str) -> str:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_round(messages: int, duration: float) -> dict[str, Any]:
    """One PostgreSQL run: two receivers, two wrk processes, a fresh database."""
    signed = shared_messages(messages)
    database = f"sns_bench_{os.getpid()}"
    store_url = create_database(database)
    servers: list[Server] = []
    results: list[WrkResult] = []
    try:
        with temp_dir("postgres") as directory:
            cert_dir = signed.kit.write_cert_dir(directory / "certs")
            config = write_service_config(directory, store_url=store_url, cert_dir=cert_dir, worker=False)
            scripts: list[Path] = []
            for index in range(RECEIVERS):
                part = signed.messages[index::RECEIVERS]
                data = write_messages_file(part, directory / f"messages-{index}.bin")
                scripts.append(
                    write_wrk_script(data, directory / f"load-{index}.lua", headers=signed.headers, threads=1)
                )
            for index in range(RECEIVERS):
                servers.append(
                    start_service(config, log=directory / f"service-{index}.log", name=f"receiver-{index}")
                )
            connections = ingest.CONNECTIONS // RECEIVERS
            loads = [
                start_wrk(s.url + ENDPOINT, script, threads=1, connections=connections, duration=duration)
                for s, script in zip(servers, scripts, strict=True)
            ]
            results = [finish_wrk(load, duration) for load in loads]
            for server in servers:
                stop_server(server)
            servers.clear()
            rows = count_rows(store_url)
    finally:
        for server in servers:
            stop_server(server)
        drop_database(database)
    distinct = sum(r.distinct_sent for r in results)
    return {
        "rate": sum(r.rate for r in results),
        "per_receiver": [r.rate for r in results],
        "non_2xx": sum(r.non_2xx for r in results),
        "socket_errors": sum(sum(r.errors.values()) - r.non_2xx for r in results),
        "duplicate_share": max(r.duplicate_share for r in results),
        "rows": rows,
        "distinct_sent": distinct,
        "rows_ok": 0 < rows <= distinct and rows >= distinct - ingest.CONNECTIONS,
        "p99_ms": max(r.p99_ms for r in results),
    }


def run(messages: int = 30_000, duration: float = 5.0, rounds: int = 2) -> dict[str, Any]:
    """``rounds`` pairs of (SQLite, one receiver; PostgreSQL, two receivers), back to back, so
    both figures of a pair meet the same machine; the ratio is the median of the pairs'."""
    pairs = []
    for _ in range(rounds):
        sqlite_rate = ingest.run(messages, duration, rounds=1, baseline=False)["ours_per_s"]
        pairs.append((sqlite_rate, _pg_round(messages, duration)))
    ratios = [pg["rate"] / sqlite_rate for sqlite_rate, pg in pairs]
    ratio = statistics.median(ratios)
    non_2xx = sum(pg["non_2xx"] for _, pg in pairs)
    rows_ok = all(pg["rows_ok"] for _, pg in pairs)
    return {
        "ours_per_s": statistics.median(pg["rate"] for _, pg in pairs),
        "sqlite_per_s": statistics.median(sqlite_rate for sqlite_rate, _ in pairs),
        "ratios": ratios,
        "ratio": ratio,
        "rounds": [pg for _, pg in pairs],
        "non_2xx": non_2xx,
        "rows": sum(pg["rows"] for _, pg in pairs),
        "distinct_sent": sum(pg["distinct_sent"] for _, pg in pairs),
        "rows_ok": rows_ok,
        "target": 1.0,
        "ok": ratio >= 1.0 and non_2xx == 0 and rows_ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = run(args.messages, args.duration, args.rounds)
    print_result("postgres_ingest", result)


if __name__ == "__main__":
    main()
