"""``serve`` with the console on its own listener, and ``sns-subscriber console`` alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from ..support.console import TOKEN, api
from ..support.servers import request
from ..support.stores import free_port


def config_file(tmp_path: Path, kit: SNSTestKit, sns_port: int, console_port: int) -> Path:
    config = tmp_path / "sns-subscriber.toml"
    config.write_text(
        f'[service]\nport = {sns_port}\n[store]\nurl = "sqlite:///inbox.db"\n'
        f'[verification]\ncert_dir = "{kit.write_cert_dir(tmp_path / "certs")}"\nfetch = false\n'
        f"[console]\nenabled = true\nport = {console_port}\n"
        f'[[endpoints]]\npath = "/sns"\ntopics = ["{TEST_TOPIC_ARN}"]\nconfirm = "manual"\n',
        encoding="utf-8",
    )
    return config


def run(command: list[str], tmp_path: Path, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SNS_SUBSCRIBER_CONSOLE_TOKEN"}
    if token is not None:
        env["SNS_SUBSCRIBER_CONSOLE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "sns_subscriber", *command], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def start(command: list[str], tmp_path: Path, *wait_for: str) -> subprocess.Popen[bytes]:
    """Start ``sns-subscriber command`` and wait until every URL of ``wait_for`` answers (the
    SNS and console listeners of one process come up independently)."""
    env = os.environ | {"SNS_SUBSCRIBER_CONSOLE_TOKEN": TOKEN}
    log = (tmp_path / "process.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sns_subscriber", *command], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    log.close()
    deadline = time.monotonic() + 30
    waiting = list(wait_for)
    while True:
        try:
            while waiting and request(waiting[0], method="GET", timeout=1).status in (200, 303):
                waiting.pop(0)
        except OSError:
            pass
        if not waiting:
            return process
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError((tmp_path / "process.log").read_text())
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, (tmp_path / "process.log").read_text()
    assert TOKEN not in (tmp_path / "process.log").read_text()


def test_serve_refuses_to_start_the_console_without_a_good_token(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    config = config_file(tmp_path, sns_kit, free_port(), free_port())
    for token in (None, "", "short"):
        result = run(["serve", "--config", str(config)], tmp_path, token)
        assert result.returncode == 2, result.stderr
        assert "SNS_SUBSCRIBER_CONSOLE_TOKEN" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "inbox.db").exists()  # refused before opening anything


def test_the_console_has_its_own_listener_and_the_sns_port_never_serves_it(
    tmp_path: Path, sns_kit: SNSTestKit
) -> None:
    sns_port, console_port = free_port(), free_port()
    config = config_file(tmp_path, sns_kit, sns_port, console_port)
    sns, console = f"http://127.0.0.1:{sns_port}", f"http://127.0.0.1:{console_port}"
    process = start(["serve", "--config", str(config)], tmp_path, f"{sns}/healthz", f"{console}/login")
    try:
        fields = sns_kit.notification(TEST_TOPIC_ARN, "hello", subject="through the SNS port")
        assert request(sns + "/sns", body=sns_kit.body(fields), headers=sns_kit.headers(fields)).status == 200
        for path in ("/login", "/", "/messages", "/api/messages", "/api/stats", "/static/console.css"):
            reply = request(sns + path, method="GET", headers={"Authorization": f"Bearer {TOKEN}"})
            assert reply.status == 404, path
        status, body, _ = api(console, "/api/messages")
        assert status == 200
        assert [m["subject"] for m in body["messages"]] == ["through the SNS port"]
        assert (
            request(console + "/sns", body=sns_kit.body(fields), headers=sns_kit.headers(fields)).status
            == 404
        )
    finally:
        stop(process, tmp_path)


def test_console_command_serves_the_configured_store_alone(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    console_port = free_port()
    config = config_file(tmp_path, sns_kit, free_port(), console_port)
    console = f"http://127.0.0.1:{console_port}"
    assert "SNS_SUBSCRIBER_CONSOLE_TOKEN" in run(["console", "--config", str(config)], tmp_path, None).stderr
    process = start(["console", "--config", str(config)], tmp_path, f"{console}/login")
    try:
        status, body, _ = api(console, "/api/stats")
        assert status == 200
        assert body["groups"] == []
        assert api(console, "/api/stats", token=None)[0] == 401
    finally:
        stop(process, tmp_path)
