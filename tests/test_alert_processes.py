"""`sns-subscriber worker` and `sns-subscriber serve` evaluate alerts on their own: the worker
process e-mails a dead letter once; a `serve` process started afterwards on the same inbox
does not e-mail it again, and e-mails the resolution once the message is replayed and done."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sns_subscriber.stores import open_store
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.stores import message


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_worker_and_serve_processes_send_each_alert_once(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    db, outbox = tmp_path / "inbox.db", tmp_path / "outbox"
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n'
        f'[verification]\ncert_dir = "{sns_kit.write_cert_dir(tmp_path / "certs")}"\nfetch = false\n'
        f'[email]\nbackend = "file"\noutbox_dir = "{outbox}"\n'
        '[alerts]\nto = ["email:ops@example.com"]\nevaluate_every_seconds = 0.2\n'
        "[worker]\npoll_interval_seconds = 0.1\n"
        f'[[endpoints]]\npath = "/sns"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"\nactions = ["log"]\n'
    )
    store = open_store(f"sqlite:///{db}")
    try:
        fields = sns_kit.notification(
            TEST_TOPIC_ARN, "hello", message_id="00000000-0000-4000-8000-0000000dead1"
        )
        store.add(
            message(
                "00000000-0000-4000-8000-0000000dead1",
                body=sns_kit.body(fields),
                topic_arn=TEST_TOPIC_ARN,
                endpoint="/sns",
            )
        )
        store.claim("w", limit=1)
        store.fail("00000000-0000-4000-8000-0000000dead1", "w", error="boom")
    finally:
        store.close()

    def mails() -> list[str]:
        return sorted(p.read_text() for p in outbox.glob("*.eml")) if outbox.exists() else []

    command = [sys.executable, "-m", "sns_subscriber"]
    worker = subprocess.Popen([*command, "worker", "--config", str(config)], stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: len(mails()) == 1, "the worker's alert e-mail")
        time.sleep(1.0)  # several more evaluations: nothing new
    finally:
        _stop(worker)
    assert worker.returncode == 0
    assert len(mails()) == 1 and "ALERT: dead letter: 00000000-0000-4000-8000-0000000dead1" in mails()[0]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve = subprocess.Popen(
        [*command, "serve", "--config", str(config), "--port", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(1.5)  # a restart: the open alert is not sent again
        assert len(mails()) == 1
        subprocess.run([*command, "inbox", "replay", "00000000-0000-4000-8000-0000000dead1", "--config", str(config)], check=True,
                       capture_output=True)  # fmt: skip
        _wait(lambda: len(mails()) == 2, "the resolution e-mail from serve")
    finally:
        _stop(serve)
    store = open_store(f"sqlite:///{db}")
    try:
        record = store.get("00000000-0000-4000-8000-0000000dead1")
        assert record is not None and str(record.status) == "done"  # serve's worker processed it
    finally:
        store.close()
    assert "RESOLVED: dead letter: 00000000-0000-4000-8000-0000000dead1" in "".join(mails())
