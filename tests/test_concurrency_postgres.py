"""Two receiver processes and two worker processes share one PostgreSQL inbox: every
MessageId is stored once and processed once, duplicates and redeliveries included."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .stores.conftest import PG_URL, require_postgres
from .support.servers import request

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UNIQUE = 2000
REDELIVERED = 600


@pytest.fixture
def database() -> Iterator[str]:
    require_postgres()
    import psycopg

    name = f"sns_conc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "receiver exited"
        try:
            if request(f"http://127.0.0.1:{port}/healthz", method="GET", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("receiver did not become healthy")


def test_two_receivers_two_workers_each_message_once(
    database: str, sns_kit: SNSTestKit, tmp_path: Path
) -> None:
    sns_kit.write_cert_dir(tmp_path / "certs")
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        f'[service]\nworker = false\nlog_level = "info"\n[store]\nurl = "{database}"\n'
        '[verification]\ncert_dir = "certs"\n'
        "[worker]\npoll_interval_seconds = 0.05\nbatch_size = 20\n"
        f'[[endpoints]]\npath = "/sns"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"\nactions = ["log"]\n'
    )
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    ports = [free_port(), free_port()]
    cli = [sys.executable, "-m", "sns_subscriber"]
    files = contextlib.ExitStack()
    receivers = [
        subprocess.Popen(
            [*cli, "serve", "--config", str(config), "--port", str(p), "--no-worker"],
            cwd=tmp_path,
            env=env,
            stderr=files.enter_context((tmp_path / f"receiver{p}.log").open("wb")),
        )
        for p in ports
    ]
    worker_logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [
        subprocess.Popen(
            [*cli, "worker", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stderr=files.enter_context(log.open("wb")),
        )
        for log in worker_logs
    ]
    try:
        for port, process in zip(ports, receivers, strict=True):
            wait_healthy(port, process)
        messages = [sns_kit.notification(TEST_TOPIC_ARN, f"message {i}") for i in range(UNIQUE)]
        # Every message once, then some again through the other receiver (SNS redelivery).
        sends = [(ports[i % 2], m) for i, m in enumerate(messages)]
        sends += [(ports[(i + 1) % 2], messages[i * 3]) for i in range(REDELIVERED)]

        def send(job: tuple[int, dict[str, object]]) -> tuple[str, int, bytes]:
            port, fields = job
            reply = request(
                f"http://127.0.0.1:{port}/sns", body=sns_kit.body(fields), headers=sns_kit.headers(fields)
            )
            return str(fields["MessageId"]), reply.status, reply.body

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(send, sends))
        assert {status for _, status, _ in results} == {200}
        accepted = Counter(mid for mid, _, body in results if b'"accepted"' in body)
        assert accepted == Counter(str(m["MessageId"]) for m in messages)  # each stored once
        assert sum(b'"duplicate"' in body for _, _, body in results) == REDELIVERED

        import psycopg

        deadline = time.monotonic() + 120
        with psycopg.connect(database, autocommit=True) as db:
            while time.monotonic() < deadline:
                row = db.execute("SELECT count(*) FROM sns_subscriber.inbox WHERE status = 'done'").fetchone()
                if row is not None and row[0] == UNIQUE:
                    break
                time.sleep(0.25)
            stored = db.execute("SELECT count(*) FROM sns_subscriber.inbox").fetchone()
        assert stored is not None
        assert stored[0] == UNIQUE
    finally:
        for process in [*workers, *receivers]:
            process.send_signal(signal.SIGTERM)
        for process in [*workers, *receivers]:
            process.wait(30)
        files.close()
    assert all(p.returncode == 0 for p in workers), [p.returncode for p in workers]
    per_worker = [re.findall(r"message (\S+) from ", log.read_text()) for log in worker_logs]
    handled = Counter(mid for ids in per_worker for mid in ids)
    assert handled == Counter(str(m["MessageId"]) for m in messages)  # each processed once
    assert all(per_worker), [len(ids) for ids in per_worker]  # both workers shared the inbox
