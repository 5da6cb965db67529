"""``sns-subscriber doctor``: every check against a real part (SQLite, PostgreSQL, aiosmtpd on
loopback, moto for SES, a loopback stand-in for LocalStack), and nothing secret printed."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sns_subscriber.cli.app import cli
from sns_subscriber.stores import NewMessage, open_store
from sns_subscriber.testing import SNSTestKit, samples

from .stores.conftest import PG_URL, require_postgres
from .support.https_server import Route, default_test_ca, serve_http, unused_port
from .support.smtp_server import Mailbox

TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"


def write_config(
    tmp_path: Path, *, store: str | None = None, extra: str = "", actions: str = '"budget-email"'
) -> Path:
    store_url = store or f"sqlite:///{tmp_path / 'inbox.db'}"
    # No certificate download (nor its reachability check) unless LocalStack is the host;
    # confirm = "manual": "auto" probes for AWS credentials, which may ask the EC2 metadata
    # service (169.254.169.254) over the network.
    fetch = "true" if "[localstack]" in extra else "false"
    text = f"""
[store]
url = "{store_url}"

[verification]
fetch = {fetch}

[[endpoints]]
path = "/budgets"
topics = ["{TOPIC}"]
confirm = "manual"
actions = [{actions}]
{extra}
"""
    path = tmp_path / "sns-subscriber.toml"
    path.write_text(text, encoding="utf-8")
    return path


def doctor(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["doctor", "--config", str(config), *args])


# -- secrets --------------------------------------------------------------------------------------


def test_doctor_never_prints_the_database_password(tmp_path: Path) -> None:
    """Attack: the store DSN's password copied from doctor's output (a pasted support log,
    a CI log). It is shown as *** whether the database answers or not."""
    require_postgres()
    with_password = PG_URL.replace("postgresql://postgres@", "postgresql://postgres:S3CRET-PW@")
    assert "S3CRET-PW" in with_password  # trust authentication ignores the password
    result = doctor(
        write_config(tmp_path, store=with_password, extra='[email]\nbackend = "console"'), "--offline"
    )
    assert "S3CRET-PW" not in result.output
    assert "store: postgresql://postgres:***@127.0.0.1:5432/" in result.output
    assert " OK (" in result.output.splitlines()[1]

    down = f"postgresql://app:S3CRET-PW@127.0.0.1:{unused_port()}/inbox?connect_timeout=2"
    result = doctor(write_config(tmp_path, store=down, extra='[email]\nbackend = "console"'), "--offline")
    assert result.exit_code == 1
    assert "S3CRET-PW" not in result.output
    assert f"store: postgresql://app:***@127.0.0.1:{down.split(':')[3]}" in result.output
    assert "UNAVAILABLE" in result.output


def test_doctor_flags_an_inbox_others_can_read(tmp_path: Path) -> None:
    """An inbox created by an older version (0644) still exposes message bodies: doctor says so."""
    config = write_config(tmp_path, extra='[email]\nbackend = "console"\nfallback = ["o@example.com"]')
    assert doctor(config, "--offline").exit_code == 0
    (tmp_path / "inbox.db").chmod(0o644)
    result = doctor(config, "--offline")
    assert result.exit_code == 1
    assert f"store: {tmp_path / 'inbox.db'} is mode 0644, readable by others: chmod 600" in result.output


# -- e-mail backend -------------------------------------------------------------------------------


def smtp_config(tmp_path: Path, port: int, **options: str) -> Path:
    lines = [f"{k} = {v}" for k, v in options.items()]
    email = "\n".join(
        [
            "[email]",
            'backend = "smtp"',
            'smtp_host = "127.0.0.1"',
            f"smtp_port = {port}",
            'fallback = ["ops@example.com"]',
            *lines,
        ]
    )
    return write_config(tmp_path, extra=email)


def test_doctor_connects_to_smtp_and_notes_missing_starttls(tmp_path: Path) -> None:
    with Mailbox() as mailbox:
        result = doctor(smtp_config(tmp_path, mailbox.port), "--offline")
        assert "e-mail: smtp backend (not checked: --offline)" in result.output
        result = doctor(smtp_config(tmp_path, mailbox.port, smtp_starttls="false"))
    email_line = next(line for line in result.output.splitlines() if line.startswith("e-mail:"))
    assert email_line == f"e-mail: smtp://127.0.0.1:{mailbox.port} OK (EHLO 250, no STARTTLS)"


def test_doctor_refuses_starttls_the_server_does_not_offer(tmp_path: Path) -> None:
    with Mailbox() as mailbox:
        result = doctor(smtp_config(tmp_path, mailbox.port, smtp_starttls="true"))
    assert result.exit_code == 1
    assert "does NOT offer STARTTLS, which email.smtp_starttls requires" in result.output


def test_doctor_upgrades_with_starttls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = default_test_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the default context trusts the test CA
    mailbox = Mailbox()
    mailbox.smtp_options = {"tls_context": ca.issue("127.0.0.1").server_context()}
    with mailbox:
        result = doctor(smtp_config(tmp_path, mailbox.port, smtp_starttls="true"))
    assert result.exit_code == 0, result.output
    assert (
        f"e-mail: smtp://127.0.0.1:{mailbox.port} OK (EHLO 250, STARTTLS offered, STARTTLS OK)"
        in result.output
    )


def test_doctor_reports_an_unreachable_smtp_server(tmp_path: Path) -> None:
    result = doctor(smtp_config(tmp_path, unused_port()))
    assert result.exit_code == 1
    assert "NOT reachable" in result.output and "Traceback" not in result.output


def test_smtp_password_without_tls_to_a_remote_relay_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("SNS_SUBSCRIBER_SMTP_PASSWORD", "S3CRET-PW")
    email = (
        '[email]\nbackend = "smtp"\nsmtp_host = "smtp.example.com"\nsmtp_port = 587\nsmtp_username = "worker"'
    )
    result = doctor(write_config(tmp_path, extra=email))
    assert result.exit_code == 2
    assert (
        "configuration error: SMTP: refusing to send the password for 'worker' to smtp.example.com without TLS"
        in (result.output)
    )
    assert "S3CRET-PW" not in result.output
    assert no_network == []


def test_doctor_checks_the_ses_sender_identity(tmp_path: Path, mocked_aws: None) -> None:
    import boto3

    config = write_config(
        tmp_path,
        extra='[email]\nbackend = "ses"\nses_region = "eu-west-1"\nfrom = "alerts@example.com"\nfallback = ["ops@example.com"]',
    )
    result = doctor(config)
    assert result.exit_code == 1
    assert "e-mail: SES in eu-west-1: sender alerts@example.com NOT verified" in result.output
    boto3.client("ses", region_name="eu-west-1").verify_domain_identity(Domain="example.com")
    ses = boto3.client("ses", region_name="eu-west-1")
    assert ses.get_identity_verification_attributes(Identities=["example.com"])["VerificationAttributes"]
    result = doctor(config)
    assert (
        "e-mail: SES in eu-west-1: sender alerts@example.com OK (verified identity: example.com)"
        in result.output
    )


# -- budget recipients ---------------------------------------------------------------------------


def store_budget_alert(tmp_path: Path, kit: SNSTestKit, budget_name: str) -> None:
    subject, text = samples.budget_alert(
        budget_name=budget_name, budgeted=Decimal(100), threshold_percent=Decimal(90), amount=Decimal(95)
    )
    # SNS refuses control characters in a Subject: a hostile budget name travels in the Message.
    fields = kit.notification(TOPIC, text, subject=subject if subject.isprintable() else None)
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
    try:
        store.add(
            NewMessage(
                message_id=fields["MessageId"],
                endpoint="/budgets",
                topic_arn=TOPIC,
                message_type="Notification",
                subject=fields.get("Subject"),
                body=kit.body(fields),
            )
        )
    finally:
        store.close()


OWNERS = '\n[[budget_owners]]\nbudget = "team-a-*"\nemail = "a@example.com"\n'


def test_doctor_names_budgets_whose_alerts_would_reach_nobody(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    store_budget_alert(tmp_path, sns_kit, "team-a-prod")
    store_budget_alert(tmp_path, sns_kit, "orphan-prod")
    store_budget_alert(tmp_path, sns_kit, "evil\x1b[2J\x1b]8;;https://evil.example/\x07name")
    result = doctor(write_config(tmp_path, extra='[email]\nbackend = "console"\n' + OWNERS), "--offline")
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("budget-email:")]
    assert "UNRESOLVABLE recipients" in line
    assert "'orphan-prod' (account 123456789012)" in line
    assert "team-a-prod" not in line
    assert "\x1b" not in result.output and "\\x1b[2J" in line


def test_doctor_with_a_fallback_has_no_unresolvable_recipients(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    store_budget_alert(tmp_path, sns_kit, "orphan-prod")
    extra = '[email]\nbackend = "console"\nfallback = ["ops@example.com"]\n' + OWNERS
    result = doctor(write_config(tmp_path, extra=extra), "--offline")
    assert result.exit_code == 0, result.output
    assert "budget-email: 1 owner rule(s); email.fallback receives the rest" in result.output


def test_doctor_without_owners_or_fallback(tmp_path: Path) -> None:
    result = doctor(write_config(tmp_path, extra='[email]\nbackend = "console"'), "--offline")
    assert result.exit_code == 1
    assert "no [[budget_owners]] and no email.fallback: every alert would e-mail nobody" in result.output


# -- LocalStack ---------------------------------------------------------------------------------


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every outbound connection attempted; anything but loopback is refused."""
    seen: list[Any] = []
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        seen.append(address)
        if not (isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1")):
            raise AssertionError(f"doctor connected to {address!r}")
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def test_doctor_in_localstack_mode_checks_localstack_not_aws(tmp_path: Path, connections: list[Any]) -> None:
    health = json.dumps({"services": {"sns": "running", "sqs": "available"}}).encode()
    with serve_http(
        {"/_localstack/health": Route(200, {"Content-Type": "application/json"}, health)}
    ) as server:
        host = f"127.0.0.1:{server.port}"
        extra = f'[localstack]\nenabled = true\nhost = "{host}"\n\n[email]\nbackend = "console"\nfallback = ["o@example.com"]'
        result = doctor(write_config(tmp_path, extra=extra))
        assert server.hits["/_localstack/health"] == 1
    assert result.exit_code == 0, result.output
    assert f"LocalStack: http://{host}/_localstack/health OK (sns running)" in result.output
    assert "amazonaws.com" not in result.output
    assert connections and all(address[0] == "127.0.0.1" for address in connections)


def test_doctor_in_localstack_mode_reports_localstack_down(tmp_path: Path, connections: list[Any]) -> None:
    host = f"127.0.0.1:{unused_port()}"
    extra = f'[localstack]\nenabled = true\nhost = "{host}"\n\n[email]\nbackend = "console"\nfallback = ["o@example.com"]'
    result = doctor(write_config(tmp_path, extra=extra))
    assert result.exit_code == 1
    assert f"LocalStack: http://{host}/_localstack/health NOT reachable" in result.output
