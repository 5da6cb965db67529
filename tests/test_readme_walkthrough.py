"""The README's walk-through, as written: serve the example configuration, simulate a
budget alert with ``simulate --config ... --wait``, find exactly one .eml with the right numbers
right away, see the message done in the inbox."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .support.servers import request

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sns_subscriber", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_readme_walkthrough(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    config = tmp_path / "examples" / "sns-subscriber.toml"
    shutil.copy(ROOT / "examples" / "sns-subscriber.toml", config)
    (tmp_path / "var" / "certs").mkdir(parents=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SNS_SUBSCRIBER_SERVICE_PORT": str(port)}
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "sns_subscriber", "serve", "--config", str(config)],
            cwd=tmp_path, stderr=log, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if request(f"http://127.0.0.1:{port}/healthz", method="GET", timeout=1).status == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "serve.log"
                ).read_text()
                time.sleep(0.1)
            # As in the README: everything the simulation needs comes from the configuration
            # (the port too, here through the same environment override the service got).
            simulated = cli(
                "simulate", "--config", "examples/sns-subscriber.toml", "--wait",
                "budget-alert", "--budget-name", "team-a-prod", "--budgeted", "100.00",
                "--threshold", "90", "--actual", "95.12", "--repeat", "2", cwd=tmp_path, env=env,
            )  # fmt: skip
            assert simulated.returncode == 0, simulated.stdout + simulated.stderr
            first, second, processed = simulated.stdout.splitlines()
            assert "HTTP 200" in first and '"accepted"' in first
            assert "HTTP 200" in second and '"duplicate"' in second
            assert processed.endswith("processed: done")
            # --wait returned after the message was done: the outbox is complete right now.
            [eml] = list((tmp_path / "var" / "outbox").glob("*.eml"))
            listed = cli("inbox", "ls", "--config", str(config), "--json", cwd=tmp_path)
            assert listed.returncode == 0, listed.stderr
            [record] = [json.loads(line) for line in listed.stdout.splitlines()]
            assert record["status"] == "done"
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    served = (tmp_path / "serve.log").read_text()
    assert server.returncode == 0, served
    # The start-up summary says what the process does.
    assert f"serve: endpoint /budget-subscriber topics={TOPIC} confirm=auto actions=budget-email" in served
    assert "serve: a worker runs in this process" in served
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert "alice@example.com" in str(message["To"])
    assert message["Subject"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    for expected in ("Alice", "team-a-prod", "ACTUAL", "90%", "$100.00", "$95.12"):
        assert expected in text, expected
