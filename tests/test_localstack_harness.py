"""The LocalStack harness: a missing LocalStack skips locally and fails under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import localstack


def start_without_localstack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localstack, "VENV", tmp_path / "no-such-venv")
    with localstack.run_localstack(tmp_path):
        raise AssertionError("must not start")


def test_missing_localstack_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true"):
        start_without_localstack(tmp_path, monkeypatch)


def test_missing_localstack_skips_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="scripts/localstack-install"):
        start_without_localstack(tmp_path, monkeypatch)
