"""p99 acknowledgement latency of the service (SQLite) at half its maximum ingest rate.

wrk has no fixed-rate mode, so this is a small constant-rate generator: asyncio, persistent
keep-alive connections, pre-built requests (distinct signed Budgets alerts). Request ``i`` is
scheduled at ``start + i / rate``; a free connection takes the next index, waits for its
scheduled time and sends it. Latency runs from the SCHEDULED time to the end of the response,
so a request that waited for a free connection (a slow server) is charged for the wait: no
coordinated omission. The first second is a warm-up and is not recorded.

The rate is half of the maximum rate of ``bench.ingest`` in the same ``python -m bench`` run
(alone, this module measures it first). The service runs as in ``bench.ingest`` (fresh SQLite
inbox, ``--no-worker``). The generator's own CPU use is reported (it shares the 2 cores).

    python -m bench.latency [--rate R] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import statistics
import time
from collections import Counter
from typing import Any

from . import ingest
from .common import (
    ENDPOINT,
    MessageSet,
    print_result,
    shared_messages,
    start_service,
    stop_server,
    temp_dir,
    write_service_config,
)

WARMUP_SECONDS = 1.0
TARGET_P99_MS = 25.0


def build_requests(messages: MessageSet, port: int, count: int) -> list[bytes]:
    requests = []
    for message in messages.messages[:count]:
        headers = messages.request_headers(message) | {
            "Host": f"127.0.0.1:{port}",
            "Content-Length": str(len(message.body)),
        }
        head = f"POST {ENDPOINT} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        requests.append(head.encode("ascii") + message.body)
    return requests


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def generate(
    port: int, requests: list[bytes], *, rate: float, duration: float, connections: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    total = min(len(requests), int(rate * (duration + WARMUP_SECONDS)))
    warmup = int(rate * WARMUP_SECONDS)
    latencies: list[float] = []
    samples: list[tuple[float, float]] = []  # (scheduled, latency)
    statuses: Counter[int] = Counter()
    state = {"next": 0, "last_done": 0.0}
    streams = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        streams.append((reader, writer))
    start = loop.time() + 0.1

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while state["next"] < total:
            index = int(state["next"])
            state["next"] += 1
            scheduled = start + index / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(requests[index])
            status = await _read_response(reader)
            done = loop.time()
            if index >= warmup:
                latencies.append(done - scheduled)
                samples.append((scheduled, done - scheduled))
                statuses[status] += 1
                state["last_done"] = max(state["last_done"], done)
        writer.close()

    cpu = time.process_time()
    await asyncio.wait_for(
        asyncio.gather(*(connection(r, w) for r, w in streams)), timeout=duration + WARMUP_SECONDS + 60
    )
    cpu = time.process_time() - cpu
    measured_start = start + warmup / rate
    elapsed = state["last_done"] - measured_start
    latencies.sort()
    # Where the slow answers were: one slow second (an fsync stall, GC) or spread out?
    per_second: dict[int, float] = {}
    for scheduled, value in samples:
        second = int(scheduled - measured_start)
        per_second[second] = max(per_second.get(second, 0.0), value)
    slow_seconds = sorted(s for s, worst in per_second.items() if worst * 1000 > TARGET_P99_MS)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "achieved_per_s": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "statuses": dict(statuses),
        "over_target_share": sum(v * 1000 > TARGET_P99_MS for v in latencies) / len(latencies),
        "seconds_with_answers_over_target": slow_seconds,
        "worst_ms_per_second": [round(per_second[s] * 1000, 1) for s in sorted(per_second)],
        "generator_cpu_share": cpu / (duration + WARMUP_SECONDS),
    }


def run(
    rate: float | None = None,
    duration: float = 10.0,
    *,
    max_rate: float | None = None,
    messages: int = 30_000,
    connections: int = 32,
) -> dict[str, Any]:
    if rate is None:
        if max_rate is None:
            max_rate = ingest.run(messages, 5.0, rounds=1, baseline=False)["max_per_s"]
        rate = max_rate / 2
    signed = shared_messages(messages)
    with temp_dir("latency") as directory:
        cert_dir = signed.kit.write_cert_dir(directory / "certs")
        store_url = f"sqlite:///{directory / 'inbox.db'}"
        config = write_service_config(directory, store_url=store_url, cert_dir=cert_dir, worker=False)
        server = start_service(config, log=directory / "service.log", name="latency-service")
        try:
            requests = build_requests(signed, server.port, messages)
            # The generator must not pause itself: a collection of its 30,000 pre-built
            # requests took 17 ms here, and every request in flight was charged for it.
            gc.collect()
            gc.freeze()
            gc.disable()
            try:
                result = asyncio.run(
                    generate(server.port, requests, rate=rate, duration=duration, connections=connections)
                )
            finally:
                gc.enable()
                gc.unfreeze()
        finally:
            stop_server(server)
    non_2xx = sum(n for status, n in result["statuses"].items() if not 200 <= status < 300)
    return result | {
        "target_rate": rate,
        "max_rate": max_rate,
        "non_2xx": non_2xx,
        "target": TARGET_P99_MS,
        "ok": result["p99_ms"] <= TARGET_P99_MS and non_2xx == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, help="requests/s (default: half of bench.ingest's maximum)")
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    print_result("latency", run(args.rate, args.duration))


if __name__ == "__main__":
    main()
