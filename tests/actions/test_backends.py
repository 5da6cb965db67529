"""E-mail backends against real parts: aiosmtpd on loopback, files on disk, SES through moto."""

from __future__ import annotations

import builtins
import email.policy
import io
import os
import re
import smtplib
import socket
import sys
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.actions import (
    BudgetEmailAction,
    BudgetOwner,
    ConfigOwnerResolver,
    ConsoleBackend,
    FileBackend,
    SESBackend,
    SMTPBackend,
)
from sns_subscriber.exceptions import ConfigurationError, MissingExtraError

from ..support.smtp_server import Mailbox
from .conftest import UNSUBSCRIBE_URL, make_delivery

SENDER = "alerts@example.com"
OWNER = BudgetOwner(budget="*", email="alice@example.com", name="Alice")


def simple_message(number: int = 0, to: str = "bob@example.com") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = f"test {number}"
    message["Message-ID"] = f"<test-{number}@example.com>"
    message.set_content(f"body {number}\n")
    return message


def action_for(backend: Any) -> BudgetEmailAction:
    return BudgetEmailAction(backend, ConfigOwnerResolver([OWNER]), sender=SENDER)


# -- SMTP -----------------------------------------------------------------------------------


def test_smtp_reuses_one_connection_for_many_alerts(mailbox: Mailbox) -> None:
    with SMTPBackend("127.0.0.1", mailbox.port) as backend:
        action = action_for(backend)
        for number in range(20):
            action(make_delivery(message_id=f"message-{number}"))
        assert backend.connections_opened == 1
    assert len(mailbox.messages) == 20
    assert mailbox.connections == 1
    assert {m["X-SNS-Message-Id"] for m in mailbox.messages} == {f"message-{n}" for n in range(20)}


def test_smtp_reconnects_after_the_server_restarted(mailbox: Mailbox) -> None:
    backend = SMTPBackend("127.0.0.1", mailbox.port)
    backend.send(simple_message(1))
    mailbox.restart()
    backend.send(simple_message(2))  # the old connection is dead: reconnect, no error
    backend.send(simple_message(3))
    backend.close()
    assert [m["Subject"] for m in mailbox.messages] == ["test 1", "test 2", "test 3"]
    assert backend.connections_opened == 2
    assert mailbox.connections == 2


def test_smtp_reconnects_after_the_server_closed_an_idle_connection(mailbox: Mailbox) -> None:
    mailbox.stop()
    mailbox.smtp_options = {"timeout": 0.2}  # aiosmtpd answers 421 and hangs up when idle
    mailbox.start()
    backend = SMTPBackend("127.0.0.1", mailbox.port)
    backend.send(simple_message(1))
    time.sleep(0.6)
    backend.send(simple_message(2))
    backend.close()
    assert [m["Subject"] for m in mailbox.messages] == ["test 1", "test 2"]
    assert backend.connections_opened == 2


def test_smtp_backend_is_shared_safely_by_threads(mailbox: Mailbox) -> None:
    backend = SMTPBackend("127.0.0.1", mailbox.port)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for number in range(5):
                backend.send(simple_message(worker * 100 + number))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    backend.close()
    assert errors == []
    assert len(mailbox.messages) == 40
    assert mailbox.connections == 1


def test_smtp_close_then_send_opens_a_new_connection(mailbox: Mailbox) -> None:
    backend = SMTPBackend("127.0.0.1", mailbox.port)
    backend.send(simple_message(1))
    backend.close()
    backend.close()  # idempotent
    backend.send(simple_message(2))
    backend.close()
    assert mailbox.connections == 2


def test_smtp_refused_recipient_raises_and_keeps_the_connection(mailbox: Mailbox) -> None:
    backend = SMTPBackend("127.0.0.1", mailbox.port)
    mailbox.reject.add("bob@example.com")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        backend.send(simple_message(1))
    backend.send(simple_message(2, to="carol@example.com"))
    backend.close()
    assert mailbox.envelopes == [(SENDER, ["carol@example.com"])]
    assert backend.connections_opened == 1


def test_smtp_unreachable_server_raises() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = SMTPBackend("127.0.0.1", port, timeout=2)
    with pytest.raises(OSError):
        backend.send(simple_message())
    backend.close()


def test_smtp_login(mailbox: Mailbox) -> None:
    from aiosmtpd.smtp import AuthResult

    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login.decode(), data.password.decode()))
        # handled=False: aiosmtpd then answers 535 itself on failure.
        return AuthResult(success=data.password == b"s3cret", handled=False)

    mailbox.stop()
    mailbox.smtp_options = {"authenticator": authenticator, "auth_require_tls": False}
    mailbox.start()
    good = SMTPBackend("127.0.0.1", mailbox.port, username="worker", password="s3cret")
    good.send(simple_message(1))
    good.close()
    bad = SMTPBackend("127.0.0.1", mailbox.port, username="worker", password="wrong")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        bad.send(simple_message(2))
    bad.close()
    assert [m["Subject"] for m in mailbox.messages] == ["test 1"]
    assert logins[0] == ("worker", "s3cret")
    assert set(logins[1:]) == {("worker", "wrong")}  # smtplib tries each offered mechanism


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"starttls": True, "ssl": True}, "not both"),
        ({"password": "x"}, "without a username"),
    ],
)
def test_smtp_contradictory_options(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        SMTPBackend("127.0.0.1", **options)


@pytest.mark.parametrize("host", ["smtp.example.com", "10.0.0.5", "127.0.0.1.example.com", "::ffff:8.8.8.8"])
def test_smtp_auth_without_tls_to_a_remote_host_is_refused_before_connecting(
    host: str, no_network: list[str]
) -> None:
    """Attack: a password sent as base64 over a plain connection, readable by anyone on the
    path. Refused when the backend is built, so no connection is ever opened."""
    with pytest.raises(ConfigurationError, match="without TLS") as refused:
        SMTPBackend(host, 587, username="worker", password="s3cret")
    assert "s3cret" not in str(refused.value)
    assert no_network == []
    # With TLS the same settings are accepted (nothing connects before the first send).
    assert SMTPBackend(host, 587, starttls=True, username="worker", password="s3cret").starttls
    assert SMTPBackend(host, ssl=True, username="worker", password="s3cret").ssl
    assert no_network == []


def test_smtp_auth_goes_over_starttls(mailbox: Mailbox) -> None:
    """The way a remote relay is used: AUTH only after STARTTLS (aiosmtpd refuses AUTH on a
    plain connection here, as such relays do)."""
    from aiosmtpd.smtp import AuthResult

    from ..support.https_server import default_test_ca

    logins: list[tuple[str, bool]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login.decode(), session.ssl is not None))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    ca = default_test_ca()
    mailbox.stop()
    mailbox.smtp_options = {
        "authenticator": authenticator,
        "auth_require_tls": True,
        "tls_context": ca.issue("127.0.0.1").server_context(),
        "require_starttls": True,
    }
    mailbox.start()
    backend = SMTPBackend(
        "127.0.0.1",
        mailbox.port,
        starttls=True,
        username="worker",
        password="s3cret",
        ssl_context=ca.client_context(),
    )
    backend.send(simple_message(5))
    backend.close()
    assert [m["Subject"] for m in mailbox.messages] == ["test 5"]
    assert logins and all(over_tls for _, over_tls in logins)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_smtp_auth_without_tls_is_allowed_to_loopback(host: str) -> None:
    assert SMTPBackend(host, 25, username="worker", password="s3cret").username == "worker"


def test_smtp_default_ports() -> None:
    assert SMTPBackend("mail.example.com").port == 25
    assert SMTPBackend("mail.example.com", ssl=True).port == 465
    assert SMTPBackend("mail.example.com", 2525).port == 2525


# -- file outbox ----------------------------------------------------------------------------

EML_NAME = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[A-Za-z0-9._-]+\.eml")


def test_file_backend_writes_one_parseable_eml_per_email(tmp_path: Path) -> None:
    outbox = tmp_path / "var" / "outbox"  # created on demand
    backend = FileBackend(outbox)
    action = action_for(backend)
    for number in range(3):
        action(make_delivery(message_id=f"message-{number}"))
    names = sorted(os.listdir(outbox))
    assert len(names) == 3
    assert all(EML_NAME.fullmatch(name) for name in names), names
    for name in names:
        data = (outbox / name).read_bytes()
        assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")  # RFC 5322 line ends
        assert UNSUBSCRIBE_URL.encode() not in data
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        assert message["Subject"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
        assert message["To"] == "Alice <alice@example.com>"
        assert not message.defects
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and "$95.12" in body.get_content()


def test_file_backend_leaves_no_partial_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FileBackend(tmp_path)

    def broken_replace(source: Any, target: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        backend.send(simple_message())
    assert os.listdir(tmp_path) == []


def test_file_backend_names_never_collide(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path)
    for _ in range(50):
        backend.send(simple_message(7))  # the same Message-ID every time
    assert len(os.listdir(tmp_path)) == 50


def test_file_backend_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        FileBackend(None)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigurationError, match="cannot be created"):
        FileBackend(blocker / "outbox")


# -- console --------------------------------------------------------------------------------


def test_console_backend_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    action_for(ConsoleBackend())(make_delivery())
    out = capsys.readouterr().out
    assert "Subject: AWS budget team-a-prod: actual $95.12 passed 90% of $100.00" in out
    assert "To: Alice <alice@example.com>" in out
    assert "Actual amount:     $95.12" in out  # decoded text, not quoted-printable
    assert "[also: text/html]" in out
    assert out.endswith("-" * 79 + "\n")


def test_console_backend_to_a_stream() -> None:
    stream = io.StringIO()
    ConsoleBackend(stream).send(simple_message(3))
    assert "Subject: test 3" in stream.getvalue()
    assert "body 3" in stream.getvalue()


def test_console_backend_prints_escape_sequences_instead_of_obeying_them() -> None:
    """Attack: a budget name or alarm text (chosen by whoever names the budget) carrying
    ESC[2J, an OSC 8 hyperlink or a CR, e-mailed through the console backend to a terminal."""
    message = simple_message(4)
    message.set_content("Budget \x1b[2J\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07\rFAKE LINE\n")
    stream = io.StringIO()
    ConsoleBackend(stream).send(message)
    out = stream.getvalue()
    assert not any(c in out for c in "\x1b\x07\r")
    assert "Budget \\x1b[2J\\x1b]8;;https://evil.example/\\x07click" in out


# -- Amazon SES (moto) ----------------------------------------------------------------------


@pytest.fixture
def aws(mocked_aws: None) -> Any:
    """moto's SES backend (what it "sent")."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def test_ses_sends_the_raw_email_to_the_owner(aws: Any) -> None:
    import boto3

    boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
    backend = SESBackend("us-east-1")
    action_for(backend)(make_delivery())
    backend.close()
    [sent] = aws.sent_messages
    assert sent.source == SENDER
    assert "alice@example.com" in sent.destinations
    message = email.message_from_string(sent.raw_data, policy=email.policy.default)
    assert message["Subject"] == "AWS budget team-a-prod: actual $95.12 passed 90% of $100.00"
    assert message["To"] == "Alice <alice@example.com>"
    assert UNSUBSCRIBE_URL not in sent.raw_data
    stats = boto3.client("ses", region_name="us-east-1").get_send_quota()
    assert stats["SentLast24Hours"] >= 1


def test_ses_rejection_raises(aws: Any) -> None:
    from botocore.exceptions import ClientError

    backend = SESBackend("us-east-1")  # the sender was never verified
    with pytest.raises(ClientError, match="MessageRejected"):
        backend.send(simple_message())
    assert aws.sent_messages == []


class RecordingSESClient:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def send_raw_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"MessageId": "x"}


def test_ses_request_shape_with_bcc_and_configuration_set() -> None:
    client = RecordingSESClient()
    message = simple_message(to='"Doe, Jane" <jane@example.com>')
    message["Cc"] = "carol@example.com"
    message["Bcc"] = "audit@example.com"
    SESBackend("eu-west-1", client=client, configuration_set="alerts").send(message)
    [call] = client.calls
    assert call["Destinations"] == ["jane@example.com", "carol@example.com", "audit@example.com"]
    assert call["Source"] == SENDER
    assert call["ConfigurationSetName"] == "alerts"
    data = call["RawMessage"]["Data"]
    assert b"audit@example.com" not in data  # Bcc stays off the copy everyone receives
    assert b"Cc: carol@example.com" in data


def test_ses_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingExtraError, match=r"sns-subscriber\[ses\]"):
        SESBackend("us-east-1")


def test_templates_without_jinja2_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_jinja(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "jinja2":
            raise ImportError("No module named 'jinja2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jinja)
    with pytest.raises(MissingExtraError, match=r"sns-subscriber\[email\]"):
        BudgetEmailAction(ConsoleBackend(), ConfigOwnerResolver([OWNER]), sender=SENDER)
