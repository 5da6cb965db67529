"""A real LocalStack (SNS + SQS) on 127.0.0.1, without Docker.

``localstack-core`` needs Python >= 3.12 and brings many dependencies, so it lives in its own
virtualenv outside the repository (``scripts/localstack-install`` builds it; ``.ci/run`` runs
that). Tests that need it skip when it is not installed, except under ``CI=true`` where a
missing LocalStack is a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.aws.clients import AwsClients

from .https_server import unused_port

VENV = Path(os.environ.get("SNS_SUBSCRIBER_LOCALSTACK_VENV", "/opt/sns-subscriber-localstack"))
ACCOUNT = "000000000000"
REGION = "us-east-1"
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class LocalStack:
    host: str  # "127.0.0.1:PORT", as written into SigningCertURL and SubscribeURL
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def client(self, service: str) -> Any:
        return AwsClients.localstack(self.host, region=REGION).client(service)


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"LocalStack is required under CI=true: {reason}")
    pytest.skip(f"LocalStack not available ({reason}); run scripts/localstack-install")


def _health(url: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as answer:
        services: dict[str, str] = json.loads(answer.read())["services"]
        return services


@contextmanager
def run_localstack(data_dir: Path) -> Iterator[LocalStack]:
    python = VENV / "bin" / "python"
    if not python.exists():
        unavailable(f"{python} does not exist")
    port = unused_port()
    host = f"127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "LOCALSTACK_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        SERVICES="sns,sqs",
        GATEWAY_LISTEN=host,
        LOCALSTACK_HOST=host,
        GATEWAY_SERVER="hypercorn",
        DISABLE_EVENTS="1",
        DNS_ADDRESS="0",
        SKIP_SSL_CERT_DOWNLOAD="1",
        SKIP_INFRA_DOWNLOADS="1",
        FILESYSTEM_ROOT=str(data_dir / "fs"),
        TMPDIR=str(data_dir),
    )
    log = data_dir / "localstack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                unavailable(f"it exited with {process.returncode}: {log.read_text()[-2000:]}")
            with suppress(OSError, ValueError, KeyError):
                services = _health(f"http://{host}")
                if services.get("sns") in ("available", "running") and services.get("sqs") in (
                    "available",
                    "running",
                ):
                    break
            if time.monotonic() > deadline:
                unavailable(f"not ready after {START_TIMEOUT:.0f}s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield LocalStack(host, log)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group, SIGKILL after a few seconds: it can hang in "Stopping all services"."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
