"""Peak RSS of the serving process under the load of ``bench.ingest``.

The service is the one of ``bench.ingest`` (SQLite, ``--no-worker``), loaded by wrk
``-t2 -c64`` with distinct messages. While wrk runs, VmRSS of the ``sns-subscriber serve``
process (it runs uvicorn itself) is sampled every 100 ms from ``/proc/<pid>/status``; just
before the process is stopped its VmHWM (the kernel's high-water mark) is read. The larger of
the two is reported, the maximum over the rounds. Within ``python -m bench`` the figure comes
from the ingest rounds themselves, so it is the same load.

    python -m bench.rss [--duration 5]
"""

from __future__ import annotations

import argparse
from typing import Any

from . import ingest
from .common import print_result

TARGET_MB = 80.0


def run(ingest_result: dict[str, Any] | None = None, *, duration: float = 5.0) -> dict[str, Any]:
    if ingest_result is None:
        ingest_result = ingest.run(duration=duration, rounds=1, baseline=False)
    peak = float(ingest_result["peak_rss_mb"])
    return {
        "peak_rss_mb": peak,
        "vmhwm_mb": [r["vmhwm_mb"] for r in ingest_result["rounds"]],
        "requests": [r["requests"] for r in ingest_result["rounds"]],
        "target": TARGET_MB,
        "ok": peak <= TARGET_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    print_result("rss", run(duration=args.duration))


if __name__ == "__main__":
    main()
