"""The README's walk-through, as written: serve the example configuration, simulate a
budget alert, find one .eml with the right numbers, see the message done in the inbox."""

from __future__ import annotations

import email
import email.policy
import json
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


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sns_subscriber", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
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
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "sns_subscriber", "serve", "--config", str(config), "--port", str(port)],
            cwd=tmp_path, stderr=log,
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
            simulated = cli(
                "simulate", "--cert-dir", "var/certs", "--endpoint", f"http://127.0.0.1:{port}/budget-subscriber",
                "--topic", TOPIC, "budget-alert", "--budget-name", "team-a-prod", "--budgeted", "100.00",
                "--threshold", "90", "--actual", "95.12", "--repeat", "2", cwd=tmp_path,
            )  # fmt: skip
            assert simulated.returncode == 0, simulated.stdout + simulated.stderr
            first, second = simulated.stdout.splitlines()
            assert "HTTP 200" in first and '"accepted"' in first
            assert "HTTP 200" in second and '"duplicate"' in second
            outbox = tmp_path / "var" / "outbox"
            deadline = time.monotonic() + 20
            while not list(outbox.glob("*.eml")) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # a wrong second e-mail would show up by now
            [eml] = list(outbox.glob("*.eml"))
            listed = cli("inbox", "ls", "--config", str(config), "--json", cwd=tmp_path)
            assert listed.returncode == 0, listed.stderr
            [record] = [json.loads(line) for line in listed.stdout.splitlines()]
            deadline = time.monotonic() + 10
            while record["status"] != "done" and time.monotonic() < deadline:
                time.sleep(0.2)
                record = json.loads(
                    cli("inbox", "ls", "--config", str(config), "--json", cwd=tmp_path).stdout
                )
            assert record["status"] == "done"
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert "alice@example.com" in str(message["To"])
    assert message["Subject"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    for expected in ("Alice", "team-a-prod", "ACTUAL", "90%", "$100.00", "$95.12"):
        assert expected in text, expected
