"""`sns-subscriber verify`: one line per file, exit 0/1/2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .conftest import CERTS, SIGNED


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sns_subscriber", "verify", *args],
        capture_output=True,
        text=True,
        check=False,
    )


GOOD_ID = "6a3b2c1d-0000-4000-8000-00000000600d"
BAD_ID = "6a3b2c1d-0000-4000-8000-000000000bad"


def test_ok_and_rejected_lines(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    cert_dir = sns_kit.write_cert_dir(tmp_path / "certs")
    good = tmp_path / "good.json"
    good.write_bytes(sns_kit.body(sns_kit.notification(TEST_TOPIC_ARN, "hi", message_id=GOOD_ID)))
    forged_fields = sns_kit.notification(TEST_TOPIC_ARN, "hi", message_id=BAD_ID)
    forged_fields["Message"] = "changed"
    forged = tmp_path / "forged.json"
    forged.write_bytes(sns_kit.body(forged_fields))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xff not json")
    result = run("--cert-dir", str(cert_dir), "--topic", TEST_TOPIC_ARN, str(good), str(forged), str(garbage))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"OK {good} Notification {GOOD_ID}",
        f"REJECTED {forged} InvalidSignatureError: signature does not match the message [MessageId {BAD_ID}]",
        f"REJECTED {garbage} MalformedMessageError: body is not UTF-8 (invalid start byte at byte 1)",
    ]
    assert "Traceback" not in result.stderr


def test_foreign_topic_rejected_without_any_topic(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    cert_dir = sns_kit.write_cert_dir(tmp_path / "certs")
    path = tmp_path / "m.json"
    path.write_bytes(sns_kit.body(sns_kit.notification("arn:aws:sns:us-east-1:999999999999:x", "hi")))
    result = run("--cert-dir", str(cert_dir), "--topic", TEST_TOPIC_ARN, str(path))
    assert result.returncode == 1
    assert "TopicNotAllowedError" in result.stdout


def test_now_option_checks_validity_at_that_time() -> None:
    path = SIGNED / "notification-v2-no-subject-2026-03-06-us-west-2.json"
    ok = run("--cert-dir", str(CERTS), "--any-topic", "--now", "2026-03-06T20:05:00Z", str(path))
    assert ok.returncode == 0, ok.stdout
    late = run("--cert-dir", str(CERTS), "--any-topic", "--now", "2026-03-07T20:05:00Z", str(path))
    assert late.returncode == 1
    assert "MessageExpiredError" in late.stdout


def test_missing_pinned_certificate_is_reported_not_fetched(tmp_path: Path) -> None:
    path = SIGNED / "notification-v2-no-subject-2026-03-06-us-west-2.json"
    result = run("--cert-dir", str(tmp_path), "--any-topic", "--at-message-time", str(path))
    assert result.returncode == 1
    assert "CertificateFetchError" in result.stdout and "pinned directory" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([str(SIGNED / "manifest.json")], id="no-topic"),
        pytest.param(["--any-topic"], id="no-files"),
        pytest.param(["--any-topic", "/does/not/exist.json"], id="missing-file"),
        pytest.param(["--any-topic", "--now", "not-a-time", str(SIGNED / "manifest.json")], id="bad-now"),
        pytest.param(["--topic", "nonsense", str(SIGNED / "manifest.json")], id="bad-topic"),
        pytest.param(
            [
                "--any-topic",
                "--now",
                "2026-01-01T00:00:00Z",
                "--at-message-time",
                str(SIGNED / "manifest.json"),
            ],
            id="conflict",
        ),
        pytest.param(
            ["--cert-dir", "/does/not/exist", "--any-topic", str(SIGNED / "manifest.json")],
            id="bad-cert-dir",
        ),
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()
