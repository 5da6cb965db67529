"""``sns-subscriber simulate`` against the real service: it takes what it needs from the
service's configuration, waits for processing on request, and explains a 503 for a
certificate the service has not pinned. Also: every command's --help works on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sns_subscriber.cli.app import cli
from sns_subscriber.service.config import load_config
from sns_subscriber.stores import InboxStatus, open_store
from sns_subscriber.testing import TEST_TOPIC_ARN

from .support.servers import serve_asgi

CONFIG = """
[service]
host = "0.0.0.0"

[store]
url = "sqlite:///inbox.db"

[verification]
cert_dir = "certs"
fetch = false

[worker]
poll_interval_seconds = 0.05

[[endpoints]]
path = "/sns"
topics = ["{topic}"]
confirm = "manual"
actions = ["log"]
"""


def _commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, click.Context(command, parent=ctx), (*prefix, name))


def test_every_command_help_works_without_the_parents_options() -> None:
    """`simulate budget-alert --help` once failed with "Missing option '--endpoint'"."""
    runner = CliRunner()
    paths = list(_commands(cli, click.Context(cli), ()))
    assert ("simulate", "budget-alert") in paths and ("inbox", "ls") in paths
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"], env={"SNS_SUBSCRIBER_CONFIG": "/nonexistent.toml"})
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The service of a configuration file, served on a free port; (file, port)."""
    from sns_subscriber.service.app import create_app
    from sns_subscriber.service.runtime import build_runtime

    (tmp_path / "certs").mkdir()
    config_file = tmp_path / "service.toml"
    config_file.write_text(CONFIG.format(topic=TEST_TOPIC_ARN), encoding="utf-8")
    runtime = build_runtime(load_config(config_file, environ={}))
    try:
        with serve_asgi(create_app(runtime, run_worker=True)) as url:
            yield config_file, int(url.rsplit(":", 1)[1])
    finally:
        runtime.close()


def test_simulate_takes_endpoint_topic_and_cert_dir_from_the_config_and_waits(
    service: tuple[Path, int], tmp_path: Path
) -> None:
    config_file, port = service
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--config",
            str(config_file),
            "--wait",
            "budget-alert",
            "--message-id",
            "7f3c2a8e-0d4b-4c1e-9a57-3b2f6e1d0c9a",
        ],
        env={"SNS_SUBSCRIBER_SERVICE_PORT": str(port)},
    )
    assert result.exit_code == 0, result.output
    assert "Notification 7f3c2a8e-0d4b-4c1e-9a57-3b2f6e1d0c9a -> HTTP 200" in result.output
    assert "7f3c2a8e-0d4b-4c1e-9a57-3b2f6e1d0c9a processed: done" in result.output
    # The development certificate went where the service looks for pinned certificates.
    assert list((tmp_path / "certs").glob("SimpleNotificationService-*.pem"))
    # --wait returned only after the worker finished: the store says so right away.
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
    try:
        record = store.get("7f3c2a8e-0d4b-4c1e-9a57-3b2f6e1d0c9a")
        assert record is not None and record.status is InboxStatus.DONE
    finally:
        store.close()


def test_simulate_explains_a_certificate_the_service_has_not_pinned(
    service: tuple[Path, int], tmp_path: Path
) -> None:
    config_file, port = service
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--config",
            str(config_file),
            "--cert-dir",
            str(tmp_path / "elsewhere"),
            "topic-verified",
        ],
        env={"SNS_SUBSCRIBER_SERVICE_PORT": str(port)},
    )
    assert result.exit_code == 1
    assert "HTTP 503" in result.output and "certificate_fetch_failed" in result.output
    assert "verification.cert_dir must be that folder" in result.output
    assert str(tmp_path / "elsewhere") in result.output


def test_simulate_without_config_or_endpoint_says_what_to_give(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--cert-dir", str(tmp_path), "subscribe"])
    assert result.exit_code == 2
    assert "give --config FILE" in result.output


def test_simulate_wait_needs_the_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--endpoint",
            "http://127.0.0.1:9/sns",
            "--topic",
            TEST_TOPIC_ARN,
            "--wait",
            "subscribe",
        ],
    )
    assert result.exit_code == 2
    assert "--wait needs --config" in result.output


def test_simulate_default_cert_dir_is_the_example_configs() -> None:
    """Run from the project folder, `simulate` without --cert-dir writes where `./scripts/serve` looks."""
    import tomllib

    from sns_subscriber.cli.simulate import DEFAULT_CERT_DIR

    examples = Path(__file__).resolve().parents[1] / "examples"
    example = tomllib.loads((examples / "sns-subscriber.toml").read_text(encoding="utf-8"))
    pinned = (examples / example["verification"]["cert_dir"]).resolve()
    assert pinned == examples.parent.resolve() / DEFAULT_CERT_DIR
