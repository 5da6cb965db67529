"""Configuration: declared once, validated at start, errors name the key and the file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sns_subscriber.exceptions import ConfigurationError
from sns_subscriber.service.config import SETTINGS, load_config, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
ENDPOINT = '[[endpoints]]\npath = "/sns"\ntopics = ["arn:aws:sns:us-east-1:123456789012:t"]\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sns-subscriber.toml"
    path.write_text(text)
    return path


def test_example_configuration_loads() -> None:
    (ROOT / "var" / "certs").mkdir(parents=True, exist_ok=True)
    config = load_config(ROOT / "examples" / "sns-subscriber.toml", environ={})
    assert config.get("email.backend") == "file"
    [endpoint] = config.endpoints
    assert (endpoint.path, endpoint.confirm, endpoint.actions) == (
        "/budget-subscriber",
        "auto",
        ("budget-email",),
    )
    assert config.tables["budget_owners"][0]["email"] == "alice@example.com"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ENDPOINT), environ={})
    assert config.get("service.port") == 8080
    assert config.get("verification.signature_versions") == ("1", "2")
    assert config.store_url == f"sqlite:///{tmp_path / 'sns-subscriber.db'}"


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, ENDPOINT)
    config = load_config(
        path, environ={"SNS_SUBSCRIBER_SERVICE_PORT": "9001", "SNS_SUBSCRIBER_SERVICE_WORKER": "false"}
    )
    assert (config.get("service.port"), config.get("service.worker")) == (9001, False)
    with pytest.raises(ConfigurationError, match="SNS_SUBSCRIBER_SERVICE_PORT must be an integer"):
        load_config(path, environ={"SNS_SUBSCRIBER_SERVICE_PORT": "http"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('[store]\nurll = "x"\n' + ENDPOINT, "unknown key store.urll", id="unknown-key"),
        pytest.param('[stor]\nurl = "x"\n' + ENDPOINT, r"unknown section \[stor\]", id="unknown-section"),
        pytest.param(
            '[service]\nport = "80"\n' + ENDPOINT, "service.port must be an integer", id="wrong-type"
        ),
        pytest.param("[service]\nport = 70000\n" + ENDPOINT, "service.port must be 1-65535", id="port-range"),
        pytest.param(
            '[store]\nurl = "mysql://x"\n' + ENDPOINT, "store.url must start with", id="bad-store-url"
        ),
        pytest.param(
            '[verification]\ncert_dir = "missing"\n' + ENDPOINT,
            "cert_dir .* is not a readable directory",
            id="missing-cert-dir",
        ),
        pytest.param('[[endpoints]]\npath = "/sns"\n', "endpoints.topics is required", id="missing-topics"),
        pytest.param(ENDPOINT + ENDPOINT, "declared twice", id="duplicate-path"),
        pytest.param(ENDPOINT + 'confirm = "sometimes"\n', "endpoints.confirm must be", id="bad-confirm"),
        pytest.param(
            ENDPOINT + "allow_raw_delivery = true\n", "raw delivery without basic auth", id="raw-without-auth"
        ),
        pytest.param(
            ENDPOINT + 'producer = "budget"\n', "producer must be one of budgets, ", id="unknown-producer"
        ),
        pytest.param(
            '[email]\nbackend = "pigeon"\n' + ENDPOINT, "email.backend must be one of", id="bad-backend"
        ),
        pytest.param("[service\nport = 1", "invalid TOML", id="bad-toml"),
        pytest.param('endpoints = "x"', "array of tables", id="endpoints-not-array"),
    ],
)
def test_errors_name_the_problem_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=message) as info:
        load_config(path, environ={})
    if "environment" not in message:
        assert str(path) in info.value.reason


def test_missing_file() -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config("/nonexistent/sns-subscriber.toml")


def test_cert_dir_that_is_a_file(tmp_path: Path) -> None:
    # (Permission bits cannot make a directory unreadable for root, which runs CI here.)
    (tmp_path / "certs").write_text("not a directory")
    with pytest.raises(ConfigurationError, match="not a readable directory"):
        load_config(write(tmp_path, '[verification]\ncert_dir = "certs"\n' + ENDPOINT), environ={})


def test_reference_document_is_up_to_date() -> None:
    """docs/configuration.md is generated from SETTINGS: regenerate it with
    `sns-subscriber config-reference --output docs/configuration.md`."""
    assert (ROOT / "docs" / "configuration.md").read_text() == reference_markdown() + "\n"
    for setting in SETTINGS:
        assert f"`{setting.name}`" in reference_markdown()


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sns_subscriber", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param('[store]\nurll = "x"\n' + ENDPOINT, "unknown key store.urll", id="unknown-key"),
        pytest.param(
            '[service]\nport = "80"\n' + ENDPOINT, "service.port must be an integer", id="wrong-type"
        ),
        pytest.param(
            '[store]\nurl = "redis://x"\n' + ENDPOINT, "store.url must start with", id="bad-store-url"
        ),
        pytest.param(
            '[verification]\ncert_dir = "nope"\n' + ENDPOINT, "is not a readable directory", id="cert-dir"
        ),
    ],
)
@pytest.mark.parametrize(
    "command", [["serve"], ["worker", "--once"], ["doctor", "--offline"], ["inbox", "ls"]]
)
def test_cli_config_errors_are_one_line(tmp_path: Path, text: str, fragment: str, command: list[str]) -> None:
    path = write(tmp_path, text)
    result = run_cli(*command, "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: configuration error: ")
    assert fragment in lines[0]


def test_cli_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = '[service]\nport = "80"\nlog_format = "xml"\n[store]\nurll = "x"\n[[endpoints]]\npath = "/sns"\n'
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, environ={})
    reason = info.value.reason
    assert reason.startswith(f"{path}: 4 problems:")
    for fragment in (
        "service.port must be an integer",
        "service.log_format must be one of text, json",
        "unknown key store.urll",
        "[[endpoints]] #1: endpoints.topics is required",
    ):
        assert fragment in reason, fragment


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        pytest.param('[store]\nurll = "x"\n' + ENDPOINT, "did you mean url?", id="key"),
        pytest.param("[verificaton]\nfetch = false\n" + ENDPOINT, "did you mean verification?", id="section"),
        pytest.param(ENDPOINT + 'topic = "x"\n', "did you mean topics?", id="array-key"),
    ],
)
def test_unknown_names_suggest_the_nearest_known_one(tmp_path: Path, text: str, suggestion: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(suggestion)):
        load_config(write(tmp_path, text), environ={})


def test_unknown_environment_variables_are_warned_about(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            ENDPOINT + 'basic_auth_username = "u"\nbasic_auth_password_env = "SNS_SUBSCRIBER_HOOK_PW"\n',
        ),
        environ={
            "SNS_SUBSCRIBER_STORE_URLL": "sqlite:///x.db",  # a typo: silently ignored before
            "SNS_SUBSCRIBER_STORE_URL": "sqlite:///y.db",
            "SNS_SUBSCRIBER_CONFIG": "x.toml",
            "SNS_SUBSCRIBER_SMTP_PASSWORD": "secret",  # email.smtp_password_env's default
            "SNS_SUBSCRIBER_HOOK_PW": "secret",  # named by this file
            "OTHER_STORE_URLL": "ignored: not ours",
        },
    )
    assert config.warnings == (
        "environment variable SNS_SUBSCRIBER_STORE_URLL is not a setting and is ignored "
        "(did you mean SNS_SUBSCRIBER_STORE_URL?)",
    )


def test_cli_prints_environment_warnings(tmp_path: Path) -> None:
    write(tmp_path, ENDPOINT)
    result = subprocess.run(
        [sys.executable, "-m", "sns_subscriber", "inbox", "ls", "--config", "sns-subscriber.toml"],
        capture_output=True, text=True, cwd=tmp_path, check=False, timeout=60,
        env={**os.environ, "SNS_SUBSCRIBER_STORE_URLL": "x"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: environment variable SNS_SUBSCRIBER_STORE_URLL is not a setting" in result.stderr


def test_each_vocabulary_has_one_source() -> None:
    """The accepted values come from the code that uses them, and the reference lists them."""
    from sns_subscriber.actions.email import BACKEND_KINDS
    from sns_subscriber.confirmation import CONFIRM_MODES
    from sns_subscriber.producers import PRODUCERS

    by_key = {s.key: s for s in SETTINGS}
    assert by_key["endpoints.confirm"].choices == CONFIRM_MODES
    assert by_key["email.backend"].choices == BACKEND_KINDS
    assert by_key["endpoints.producer"].choices == PRODUCERS
    reference = reference_markdown()
    for setting in SETTINGS:
        for choice in setting.choices:
            assert f"`{choice}`" in reference
