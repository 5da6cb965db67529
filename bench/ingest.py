"""Ingest throughput of the service (SQLite) vs a bare Starlette app that only verifies.

Ours: ``sns-subscriber serve --no-worker`` (``service.worker = false``: the benchmark measures
receiving, not processing) with a SQLite inbox in a temporary folder (``synchronous = full``,
the default), the kit's certificate pinned, one endpoint for the kit's topic, ``confirm =
"manual"``, ``actions = []``. Every 200 means the message was committed.

Baseline: ``bench/baseline_app.py`` under the same uvicorn settings: read body, ``json.loads``,
one RSA signature check, 200.

Load: wrk (``-t2 -c64``) cycling through distinct pre-signed Budgets alerts, so nearly every
request of our run is a new insert (the duplicate share is reported). Rounds alternate
baseline and ours; the ratio is the median of the per-round ratios. After each of our runs the
inbox row count is checked against the distinct messages wrk sent, and non-2xx must be 0.

    python -m bench.ingest [--messages 30000] [--duration 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from .common import (
    ENDPOINT,
    MessageSet,
    RSSSampler,
    WrkResult,
    count_rows,
    print_result,
    proc_cpu_seconds,
    run_wrk,
    shared_messages,
    start_baseline,
    start_service,
    stop_server,
    temp_dir,
    write_messages_file,
    write_service_config,
    write_wrk_script,
)

THREADS = 2
CONNECTIONS = 64


def prepare(messages: MessageSet, directory: Path, *, threads: int = THREADS) -> tuple[Path, Path]:
    """(certificate folder, wrk script) for ``messages`` in ``directory``."""
    cert_dir = messages.kit.write_cert_dir(directory / "certs")
    data = write_messages_file(messages.messages, directory / "messages.bin")
    script = write_wrk_script(data, directory / "load.lua", headers=messages.headers, threads=threads)
    return cert_dir, script


def check_rows(rows: int, result: WrkResult, connections: int) -> bool:
    """Rows must match what wrk delivered: at most the distinct messages sent, at least those
    minus the requests still in flight when wrk stopped (one per connection at most)."""
    return 0 < rows <= result.distinct_sent and rows >= result.distinct_sent - connections


def measure_service(
    directory: Path,
    cert_dir: Path,
    script: Path,
    *,
    duration: float,
    connections: int = CONNECTIONS,
    threads: int = THREADS,
    name: str = "ours",
) -> dict[str, Any]:
    """One wrk run against a fresh service (fresh SQLite inbox); stops it afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{directory / 'inbox.db'}"
    config = write_service_config(directory, store_url=store_url, cert_dir=cert_dir, worker=False)
    server = start_service(config, log=directory / "service.log", name=name)
    try:
        with RSSSampler(server.pid) as rss:
            cpu = proc_cpu_seconds(server.pid)
            result = run_wrk(
                server.url + ENDPOINT, script, threads=threads, connections=connections, duration=duration
            )
            cpu = proc_cpu_seconds(server.pid) - cpu
    finally:
        stop_server(server)
    rows = count_rows(store_url)
    return {
        "rate": result.rate,
        "requests": result.requests,
        "distinct_sent": result.distinct_sent,
        "duplicate_share": result.duplicate_share,
        "non_2xx": result.non_2xx,
        "errors": result.errors,
        "rows": rows,
        "rows_ok": check_rows(rows, result, connections),
        "cpu_ms_per_request": cpu * 1000 / max(result.requests, 1),
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "peak_rss_mb": rss.peak_mb,
        "vmhwm_mb": rss.hwm_kb / 1024,
    }


def measure_baseline(
    directory: Path, cert_dir: Path, script: Path, *, duration: float, connections: int = CONNECTIONS
) -> dict[str, Any]:
    pem = next(cert_dir.glob("*.pem"))
    server = start_baseline(pem, log=directory / "baseline.log")
    try:
        cpu = proc_cpu_seconds(server.pid)
        result = run_wrk(
            server.url + ENDPOINT, script, threads=THREADS, connections=connections, duration=duration
        )
        cpu = proc_cpu_seconds(server.pid) - cpu
    finally:
        stop_server(server)
    return {
        "cpu_ms_per_request": cpu * 1000 / max(result.requests, 1),
        "rate": result.rate,
        "non_2xx": result.non_2xx,
        "errors": result.errors,
        "p99_ms": result.p99_ms,
    }


def run(
    messages: int = 30_000, duration: float = 5.0, rounds: int = 2, *, baseline: bool = True
) -> dict[str, Any]:
    """Alternate baseline and ours ``rounds`` times; without ``baseline`` only ours runs."""
    signed = shared_messages(messages)
    ours: list[dict[str, Any]] = []
    bases: list[dict[str, Any]] = []
    with temp_dir("ingest") as directory:
        cert_dir, script = prepare(signed, directory)
        for index in range(rounds):
            if baseline:
                bases.append(measure_baseline(directory, cert_dir, script, duration=duration))
            ours.append(measure_service(directory / f"round-{index}", cert_dir, script, duration=duration))
    result: dict[str, Any] = {
        "ours_per_s": statistics.median(r["rate"] for r in ours),
        "max_per_s": max(r["rate"] for r in ours),
        "messages": messages,
        "duplicate_share": max(r["duplicate_share"] for r in ours),
        "non_2xx": sum(r["non_2xx"] for r in ours),
        "socket_errors": sum(sum(r["errors"].values()) - r["non_2xx"] for r in ours),
        "rows_ok": all(r["rows_ok"] for r in ours),
        "rows": [r["rows"] for r in ours],
        "distinct_sent": [r["distinct_sent"] for r in ours],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ours),
        "cpu_ms_per_request": statistics.median(r["cpu_ms_per_request"] for r in ours),
        "p99_ms_under_max_load": max(r["p99_ms"] for r in ours),
        "rounds": ours,
        "target": 0.6,
    }
    if baseline:
        result["baseline_per_s"] = statistics.median(r["rate"] for r in bases)
        result["ratio"] = statistics.median(o["rate"] / b["rate"] for o, b in zip(ours, bases, strict=True))
        result["baseline_non_2xx"] = sum(b["non_2xx"] for b in bases)
        result["baseline_cpu_ms_per_request"] = statistics.median(b["cpu_ms_per_request"] for b in bases)
        result["cpu_ratio"] = result["baseline_cpu_ms_per_request"] / result["cpu_ms_per_request"]
        result["baseline_rounds"] = bases
    result["ok"] = (
        result["non_2xx"] == 0 and result["rows_ok"] and (not baseline or result["ratio"] >= result["target"])
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = run(args.messages, args.duration, args.rounds)
    print_result("ingest", result)
    print(
        f"ingest: ours {result['ours_per_s']:.0f}/s, baseline {result['baseline_per_s']:.0f}/s, "
        f"ratio {result['ratio']:.2f} (target >= {result['target']}), duplicates "
        f"{result['duplicate_share']:.1%}, non-2xx {result['non_2xx']}, rows ok {result['rows_ok']}"
    )


if __name__ == "__main__":
    main()
