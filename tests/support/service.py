"""A real `sns-subscriber serve` process on 127.0.0.1 for tests, stopped on exit."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .servers import request

ROOT = Path(__file__).resolve().parents[2]
PATH = "/sns"


@dataclass(frozen=True)
class Served:
    url: str
    port: int
    db: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def write_config(tmp_path: Path, kit: SNSTestKit, service: dict[str, Any] | None = None) -> Path:
    db = tmp_path / "inbox.db"
    config = tmp_path / "sns-subscriber.toml"
    lines = [
        f'[store]\nurl = "sqlite:///{db}"',
        f'[verification]\ncert_dir = "{kit.write_cert_dir(tmp_path / "certs")}"\nfetch = false',
        "[service]\nworker = false",
        *(f"{key} = {_toml(value)}" for key, value in (service or {}).items()),
        f'[[endpoints]]\npath = "{PATH}"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"',
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


@contextlib.contextmanager
def serve_process(
    tmp_path: Path,
    kit: SNSTestKit,
    service: dict[str, Any] | None = None,
    *,
    max_open_files: int | None = None,
) -> Iterator[Served]:
    """Run `serve` with ``[service]`` settings ``service``; ``max_open_files`` lowers its
    file-descriptor limit (RLIMIT_NOFILE), to show what exhausting it does."""
    config = write_config(tmp_path, kit, service)
    port = free_port()
    log = tmp_path / "serve.log"

    # The limit is set by the child itself: preexec_fn is unsafe in a process with threads.
    prelude = (
        "import resource, runpy, sys; "
        f"n = {max_open_files!r}; "
        "n is None or resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
        "sys.argv[0] = 'sns-subscriber'; "
        "runpy.run_module('sns_subscriber', run_name='__main__')"
    )
    command = [sys.executable, "-c", prelude, "serve", "--config", str(config), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=out)
    served = Served(f"http://127.0.0.1:{port}", port, tmp_path / "inbox.db", log, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if request(f"{served.url}/healthz", method="GET", timeout=1).status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{served.log_text()}")
            time.sleep(0.1)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
