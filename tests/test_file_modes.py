"""Files that hold messages or keys are created 0600, whatever the umask lets through.

Attack stopped: another local user reading the inbox (raw bodies carry the UnsubscribeURL:
whoever visits it removes the subscription), the e-mails in the outbox, or the development
signing key, which also must never sit in the trusted certificate folder, where a service
pinning that folder would serve it next to the certificates.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from sns_subscriber._files import write_new_private_file
from sns_subscriber.actions.email import FileBackend
from sns_subscriber.cli.app import cli
from sns_subscriber.stores import open_store
from sns_subscriber.testing import SNSTestKit, dev_key_file

from .support.https_server import unused_port
from .support.stores import message


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: files anyone may read unless their creator says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_sqlite_database_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'var' / 'inbox.db'}")
    try:
        store.add(message("m-1"))
        files = sorted((tmp_path / "var").iterdir())
        assert [f.name for f in files] == ["inbox.db", "inbox.db-shm", "inbox.db-wal"]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(tmp_path / "var") == 0o700
    finally:
        store.close()


def test_outbox_eml_files_are_created_0600(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = "a@example.com", "b@example.com", "budget"
    email.set_content("over budget")
    FileBackend(outbox).send(email)
    [eml] = outbox.iterdir()
    assert eml.suffix == ".eml"
    assert mode(eml) == 0o600


def test_dev_signing_key_is_0600_and_outside_the_certificate_folder(tmp_path: Path) -> None:
    certs = tmp_path / "var" / "certs"
    kit = SNSTestKit.load_or_create(certs)
    key = dev_key_file(certs)
    assert key == tmp_path / "var" / "certs.dev-key.pem"
    assert mode(key) == 0o600
    assert [p.name for p in certs.iterdir()] == [kit.cert_filename]  # the certificate only
    again = SNSTestKit.load_or_create(certs)
    assert again.cert_filename == kit.cert_filename  # the same key, so the pinned name holds


def test_key_from_an_earlier_version_leaves_the_certificate_folder(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    first = SNSTestKit.load_or_create(tmp_path / "elsewhere", key_file=tmp_path / "old.pem")
    legacy = certs / ".sns-subscriber-dev-key.pem"
    legacy.write_bytes((tmp_path / "old.pem").read_bytes())
    legacy.chmod(0o644)
    kit = SNSTestKit.load_or_create(certs)
    assert not legacy.exists()
    assert mode(dev_key_file(certs)) == 0o600
    assert kit.cert_filename == first.cert_filename


def test_key_inside_the_certificate_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not be inside the certificate folder"):
        SNSTestKit.load_or_create(tmp_path, key_file=tmp_path / "key.pem")


def test_key_write_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    """Attack: a symlink planted where the key will be written, pointing at a file the
    attacker can read; O_EXCL refuses it instead of writing the key through it."""
    target = tmp_path / "attacker-readable"
    link = tmp_path / "key.pem"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        write_new_private_file(link, b"secret key")
    assert not target.exists()


def test_simulate_leaves_only_private_keys_and_public_certificates(tmp_path: Path) -> None:
    certs = tmp_path / "var" / "certs"
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--endpoint",
            f"http://127.0.0.1:{unused_port()}/sns",
            "--topic",
            "arn:aws:sns:us-east-1:123456789012:budgets",
            "--cert-dir",
            str(certs),
            "subscribe",
        ],
    )
    assert "cannot reach" in result.output  # nothing listens; the key was made before posting
    created = {p.relative_to(tmp_path).as_posix(): mode(p) for p in tmp_path.rglob("*") if p.is_file()}
    [certificate] = [name for name in created if name.startswith("var/certs/")]
    assert certificate.endswith(".pem") and "SimpleNotificationService-" in certificate
    assert created.pop("var/certs.dev-key.pem") == 0o600
    assert list(created) == [certificate]
