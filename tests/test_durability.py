"""Nothing acknowledged is lost: worker crashes, database outages, concurrent processes."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.stores import InboxStatus, InboxStore, open_store
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .stores.conftest import PG_URL, pg_schema, require_postgres
from .support.pipeline import make_subscriber, post, sqlite_store
from .support.servers import request
from .support.stores import TCPProxy

ROOT = Path(__file__).resolve().parents[1]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_worker_killed_mid_message_loses_nothing_and_repeats_nothing(
    sns_kit: SNSTestKit, tmp_path: Path
) -> None:
    store = sqlite_store(tmp_path)
    subscriber = make_subscriber(sns_kit, store, tmp_path)
    ids = []
    for i in range(12):
        fields = sns_kit.notification(TEST_TOPIC_ARN, f"m{i}")
        assert subscriber.handle(post(fields)).result == "accepted"
        ids.append(fields["MessageId"])
    store.close()
    db, log, effects = tmp_path / "inbox.db", tmp_path / "log", tmp_path / "effects"
    command = [sys.executable, "-m", "tests.support.crash_worker", str(db), str(log), str(effects)]
    victim = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 30
    # Kill while a handler is inside its sleep: started, side effect not yet done.
    while time.monotonic() < deadline:
        started = [line.split()[1] for line in _lines(log)]
        done = set(_lines(effects))
        if len(done) >= 4 and started and started[-1] not in done:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert victim.returncode == -signal.SIGKILL
    interrupted = [line.split()[1] for line in _lines(log)][-1]
    assert interrupted not in set(_lines(effects))
    time.sleep(1.6)  # the killed worker's lease expires
    subprocess.run(command, cwd=ROOT, check=True, timeout=60)
    effect_counts = Counter(_lines(effects))
    assert effect_counts == Counter(ids)  # every message's action ran exactly once
    reopened = open_store(f"sqlite:///{db}")
    try:
        assert reopened.counts()[InboxStatus.DONE] == 12
        record = reopened.get(interrupted)
        assert record is not None
        assert record.attempts == 2  # claimed by the killed worker, then again
    finally:
        reopened.close()


@pytest.fixture
def pg_proxy_store() -> Iterator[tuple[TCPProxy, InboxStore]]:
    require_postgres()
    proxy = TCPProxy(("127.0.0.1", 5432)).start()
    schema = pg_schema()
    url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    store = open_store(url, schema=schema, connect_timeout=1.0)
    yield proxy, store
    store.close()
    proxy.stop()
    cleanup = open_store(PG_URL, schema=schema)
    cleanup.drop_schema()  # type: ignore[attr-defined]
    cleanup.close()


@pytest.mark.postgres
def test_postgres_outage_is_503_and_recovers(
    sns_kit: SNSTestKit, tmp_path: Path, pg_proxy_store: tuple[TCPProxy, InboxStore]
) -> None:
    proxy, store = pg_proxy_store
    subscriber = make_subscriber(sns_kit, store, tmp_path)
    before = sns_kit.notification(TEST_TOPIC_ARN, "before the outage")
    assert subscriber.handle(post(before)).status == 200
    proxy.stop()
    during = sns_kit.notification(TEST_TOPIC_ARN, "during the outage")
    started = time.monotonic()
    outcome = subscriber.handle(post(during))
    assert (outcome.status, outcome.result) == (503, "store_unavailable")
    assert time.monotonic() - started < 10  # well inside SNS's 15 s
    proxy.start()  # same port: the database is back
    deadline = time.monotonic() + 20
    while True:
        retried = subscriber.handle(post(during))  # SNS redelivers the 503'd message
        if retried.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (retried.status, retried.result) == (200, "accepted")
    assert subscriber.handle(post(sns_kit.notification(TEST_TOPIC_ARN, "after"))).status == 200
    assert store.get(before["MessageId"]) is not None  # nothing acknowledged earlier was lost
    assert store.counts()[InboxStatus.RECEIVED] == 3


def _start_service(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "sns_subscriber", "serve", "--config", str(config), "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen([*command, "--no-worker"], cwd=ROOT, stdout=out, stderr=out)
    deadline = time.monotonic() + 30
    while True:
        try:
            if request(f"http://127.0.0.1:{port}/healthz", method="GET", timeout=1).status == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(log.read_text())
        time.sleep(0.1)


@pytest.mark.slow
def test_service_killed_under_load_keeps_every_acknowledged_message(
    sns_kit: SNSTestKit, tmp_path: Path
) -> None:
    """The fast path (plain ASGI front, group commit, one wake-up per batch) answers 200 only
    after the batch's COMMIT: SIGKILL the service while 8 clients keep posting, and every
    message that got a 200 must be in the inbox afterwards."""
    db = tmp_path / "inbox.db"
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n'
        f'[verification]\ncert_dir = "{sns_kit.write_cert_dir(tmp_path / "certs")}"\nfetch = false\n'
        f"[service]\nworker = false\n"
        f'[[endpoints]]\npath = "/sns"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"\n'
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    messages = [sns_kit.notification(TEST_TOPIC_ARN, f"load {i}") for i in range(800)]
    server = _start_service(config, port, tmp_path / "serve.log")
    acknowledged: list[str] = []
    lock = threading.Lock()

    def client(mine: list[dict[str, Any]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for fields in mine:
                connection.request("POST", "/sns", body=sns_kit.body(fields), headers=sns_kit.headers(fields))
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    with lock:
                        acknowledged.append(fields["MessageId"])
        except (OSError, http.client.HTTPException):
            return  # the server is gone
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(messages[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        time.sleep(0.005)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    for thread in threads:
        thread.join(30)
    assert 200 <= len(acknowledged) < len(messages), "the kill must land mid-load"

    store = open_store(f"sqlite:///{db}")
    try:
        missing = [message_id for message_id in acknowledged if store.get(message_id) is None]
        assert missing == []
        assert sum(store.counts().values()) >= len(acknowledged)
    finally:
        store.close()
