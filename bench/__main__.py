"""Run every benchmark and print one table (``python -m bench``; see bench/README.md).

Progress goes to stderr, the table to stdout; ``--json FILE`` also writes every figure. The
exit status is 0 when every benchmark ran (whatever its verdict) and 2 when one crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import cold_cache, console, ingest, latency, postgres_ingest, retention, rss, verify, worker_email
from .common import shared_messages

Row = tuple[str, str, str, str, str, str, str]
VERIFY = "1 verify (parse+verify, 1 process)"
INGEST = "2 ingest SQLite (serve, no worker)"
POSTGRES = "3 ingest PostgreSQL, 2 receivers"
COLD = "4 cold cache, 200 concurrent first verifications"
LATENCY = "5 p99 ack latency @ half max rate"
RSS = "6 peak RSS of serve under load (2)"
WORKER = "7 worker: Budgets alerts -> SMTP e-mails"
RETENTION = "8 ingest during a 200k-row purge vs without"
CLIENTS_NOTE = f"{retention.CLIENTS} keep-alive clients"
CONSOLE = "9 console API/page latency, 1M messages"
HEADER: Row = ("benchmark", "ours", "baseline", "ratio", "target", "result", "notes")


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def render(rows: list[Row]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]

    def line(row: Row) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(r) for r in rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test, noisy figures)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    quick = args.quick
    messages = 12_000 if quick else 30_000
    duration = 2.0 if quick else 5.0
    rounds = 1 if quick else 3
    results: dict[str, Any] = {}
    rows: list[Row] = []
    crashed = False
    started = time.monotonic()

    def attempt(name: str, label: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        nonlocal crashed
        log(f"{name} ...")
        begin = time.monotonic()
        try:
            result = work()
        except Exception as exc:
            crashed = True
            traceback.print_exc(file=sys.stderr)
            rows.append((label, "error", "", "", "", "ERROR", f"{type(exc).__name__}: {exc}"[:120]))
            return None
        log(f"{name} done in {time.monotonic() - begin:.0f} s")
        results[name] = result
        return result

    log(f"signing {messages} distinct Budgets alerts in 2 processes ...")
    shared_messages(messages)

    r = attempt("verify", VERIFY, lambda: verify.run(1000 if quick else 2000, 3 if quick else 5))
    if r:
        rows.append(
            (
                VERIFY,
                f"{r['ours_per_s']:,.0f}/s",
                f"{r['floor_per_s']:,.0f}/s bare RSA",
                f"{r['ratio']:.2f}",
                f">= {r['target']}",
                verdict(r["ratio"] >= r["target"]),
                "median of interleaved rounds",
            )
        )

    ing = attempt("ingest", INGEST, lambda: ingest.run(messages, duration, rounds))
    if ing:
        rows.append(
            (
                INGEST,
                f"{ing['ours_per_s']:,.0f}/s",
                f"{ing['baseline_per_s']:,.0f}/s bare Starlette+RSA",
                f"{ing['ratio']:.2f}",
                f">= {ing['target']}",
                verdict(ing["ok"]),
                f"wrk -t2 -c64 {duration:g}s x{rounds}; dup {ing['duplicate_share']:.1%}; non-2xx {ing['non_2xx']}; "
                f"server CPU/req {ing['cpu_ms_per_request']:.2f} vs {ing['baseline_cpu_ms_per_request']:.2f} ms "
                f"(ratio {ing['cpu_ratio']:.2f}); "
                f"rows {'=' if ing['rows_ok'] else '!='} distinct sent {sum(ing['rows'])}/{sum(ing['distinct_sent'])}",
            )
        )

    max_rate = ing["max_per_s"] if ing else None
    lat = attempt(
        "latency",
        LATENCY,
        lambda: latency.run(duration=5.0 if quick else 10.0, max_rate=max_rate, messages=messages),
    )
    if lat:
        rows.append(
            (
                LATENCY,
                f"{lat['p99_ms']:.1f} ms",
                "",
                "",
                f"<= {lat['target']:g} ms",
                verdict(lat["ok"]),
                f"rate {lat['achieved_per_s']:,.0f}/s (asked {lat['target_rate']:,.0f}); p50 {lat['p50_ms']:.1f} ms; "
                f"max {lat['max_ms']:.0f} ms; non-2xx {lat['non_2xx']}; generator CPU {lat['generator_cpu_share']:.0%}",
            )
        )

    mem = attempt("rss", RSS, lambda: rss.run(ing, duration=duration))
    if mem:
        rows.append(
            (
                RSS,
                f"{mem['peak_rss_mb']:.1f} MB",
                "",
                "",
                f"<= {mem['target']:g} MB",
                verdict(mem["ok"]),
                "VmHWM / sampled VmRSS of the uvicorn process, max over rounds",
            )
        )

    cc = attempt("cold_cache", COLD, lambda: cold_cache.run(200))
    if cc:
        runs = cc["runs"]
        rows.append(
            (
                COLD,
                f"{cc['fetches']} fetch",
                "",
                "",
                f"= {cc['target']}",
                verdict(cc["ok"]),
                f"real HTTPS; threads {runs['threads']['fetches']} fetch, asyncio {runs['asyncio']['fetches']} fetch",
            )
        )

    pg = attempt("postgres_ingest", POSTGRES, lambda: postgres_ingest.run(messages, duration, rounds))
    if pg:
        rows.append(
            (
                POSTGRES,
                f"{pg['ours_per_s']:,.0f}/s",
                f"{pg['sqlite_per_s']:,.0f}/s SQLite, same rounds",
                f"{pg['ratio']:.2f}",
                f">= {pg['target']}",
                verdict(pg["ok"]),
                f"2 serve processes, 2 ports, 2x wrk -t1 -c32; rounds "
                f"{', '.join(f'{r:.2f}' for r in pg['ratios'])}; non-2xx {pg['non_2xx']}; "
                f"rows {'=' if pg['rows_ok'] else '!='} sent {pg['rows']}/{pg['distinct_sent']}",
            )
        )

    we = attempt("worker_email", WORKER, lambda: worker_email.run(500 if quick else 2000))
    if we:
        if we["available"]:
            rows.append(
                (
                    WORKER,
                    f"{we['emails_per_s']:,.0f}/s",
                    "",
                    "",
                    "none",
                    verdict(we["ok"]),
                    f"worker --once: {we['processed']} processed, {we['emails']} mails over "
                    f"{we['smtp_connections']} SMTP connection(s) (reused: {we['connections_reused']}); "
                    f"{we['processed_per_s_with_startup']:,.0f}/s with process start",
                )
            )
        else:
            rows.append(
                (
                    WORKER,
                    "not available",
                    "",
                    "",
                    "none",
                    "n/a",
                    we["reason"][:100],
                )
            )

    ret = attempt(
        "retention", RETENTION, lambda: retention.run(4000 if quick else 8000, 2.0 if quick else 4.0)
    )
    if ret:
        rows.append(
            (
                RETENTION,
                f"{ret['purging_per_s']:,.0f}/s",
                f"{ret['quiet_per_s']:,.0f}/s no purge",
                f"{ret['ratio']:.2f}",
                f">= {ret['target']}",
                verdict(ret["ok"]),
                f"SQLite, {CLIENTS_NOTE}; purge {ret['purge_seconds']:.1f} s, running all round: "
                f"{ret['still_purging_at_end']}; non-2xx {ret['non_2xx']}",
            )
        )

    con = attempt(
        "console", CONSOLE, lambda: console.run(100_000 if quick else 1_000_000, 5 if quick else 10)
    )
    if con:
        slowest = {
            kind: max(con[kind]["calls"].items(), key=lambda item: item[1]["median_ms"])
            for kind in ("sqlite", "postgres")
        }
        rows.append(
            (
                CONSOLE,
                f"{con['worst_median_ms']:.0f} ms",
                "",
                "",
                f"< {con['target_ms']:g} ms",
                verdict(con["ok"]),
                "worst median of 11 calls; "
                + "; ".join(
                    f"{kind}: {name} {call['median_ms']:.0f} ms" for kind, (name, call) in slowest.items()
                ),
            )
        )

    log(f"all done in {time.monotonic() - started:.0f} s")
    print(render(sorted(rows)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 2 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
