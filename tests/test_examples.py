"""The FastAPI and Django example apps, each run as its README says on a real server in its
own process: a signed budget alert becomes exactly one e-mail (.eml) to the budget's owner,
a redelivery is a duplicate, a forged alert is refused. (The Flask example: test_budgets_e2e.)"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sns_subscriber.testing import SNSTestKit, samples

from .support.servers import request

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["fastapi", "django"])
def example(
    request: pytest.FixtureRequest, tmp_path: Path, sns_kit: SNSTestKit
) -> Iterator[tuple[str, Path]]:
    """The example's base URL and its data folder."""
    port = free_port()
    script = ROOT / "examples" / f"{request.param}_budgets" / "app.py"
    command = [sys.executable, str(script)]
    if request.param == "django":
        command += ["runserver", "--noreload", f"127.0.0.1:{port}"]
    env = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "SNS_CERT_DIR": str(sns_kit.write_cert_dir(tmp_path / "certs")),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request_ok(f"{base}/inbox"):
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield base, tmp_path / "data"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def request_ok(url: str) -> bool:
    return request(url, method="GET", timeout=2).status == 200


def send(url: str, kit: SNSTestKit, fields: dict[str, str]) -> tuple[int, bytes]:
    reply = request(url, body=kit.body(fields), headers=kit.headers(fields))
    return reply.status, reply.body


@pytest.mark.slow
def test_example_emails_the_budget_owner_once(example: tuple[str, Path], sns_kit: SNSTestKit) -> None:
    base, data = example
    url = f"{base}/budget-subscriber"
    subject, text = samples.topic_verified()
    assert send(url, sns_kit, sns_kit.notification(TOPIC, text, subject=subject))[0] == 200

    subject, text = samples.budget_alert(budget_name="team-b-prod", budgeted="200.00", amount="190.50")
    alert = sns_kit.notification(TOPIC, text, subject=subject)
    status, body = send(url, sns_kit, alert)
    assert (status, b'"accepted"' in body) == (200, True)
    status, body = send(url, sns_kit, alert)  # SNS redelivers
    assert (status, b'"duplicate"' in body) == (200, True)
    forged = dict(alert, MessageId=str(uuid.uuid4()), Message=text.replace("$190.50", "$1.00"))
    assert send(url, sns_kit, forged)[0] == 403
    foreign = sns_kit.notification("arn:aws:sns:us-east-1:999999999999:other", text, subject=subject)
    assert send(url, sns_kit, foreign)[0] == 403

    outbox = data / "outbox"
    deadline = time.monotonic() + 30
    while True:
        counts = json.loads(request(f"{base}/inbox", method="GET").body)
        # the Budgets test message is recorded as "test", the alert is processed
        if (counts.get("test"), counts.get("done")) == (1, 1) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (counts["test"], counts["done"]) == (1, 1), counts
    [eml] = list(outbox.glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert "bob@example.com" in str(message["To"])
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = str(part.get_content())
    for expected in ("Bob", "team-b-prod", "$200.00", "$190.50"):
        assert expected in content, expected
