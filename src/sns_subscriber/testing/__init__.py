"""Sign SNS messages like SNS does, with a throwaway key, to test handlers offline.

>>> kit = SNSTestKit()
>>> fields = kit.notification(TEST_TOPIC_ARN, "hello")
>>> verifier = kit.verifier([TEST_TOPIC_ARN])
>>> verifier.verify(parse(kit.body(fields))).message
'hello'

The kit's certificate is self-signed and named like SNS's (``CN=sns.amazonaws.com``), so it
is only trusted by verifiers given the kit's certificate directory: pin it with
``Verifier(..., cert_dir=kit.write_cert_dir(path))`` or use :meth:`SNSTestKit.verifier`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import secrets
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .._files import write_new_private_file
from ..certs import expected_certificate_name, sns_host
from ..messages import TopicArn
from ..parsing import parse
from ..signing import SIGNATURE_VERSIONS, string_to_sign
from ..verification import Clock, VerificationPolicy, Verifier

__all__ = ["TEST_TOPIC_ARN", "SNSTestKit", "default_kit", "dev_key_file", "format_timestamp"]

TEST_TOPIC_ARN: Final = "arn:aws:sns:us-east-1:123456789012:sns-subscriber-test"

_REGIONS_FOR_NAMES: Final = (
    "us-east-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1", "af-south-1", "ap-east-1",
    "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
    "ca-west-1", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1",
    "me-south-1", "mx-central-1", "us-iso-east-1", "us-isob-east-1", "eusc-de-east-1",
)  # fmt: skip


def format_timestamp(when: datetime) -> str:
    """SNS's timestamp format: UTC, milliseconds, ``Z``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class SNSTestKit:
    """A signing key and certificate standing in for SNS's.

    Every message builder returns the JSON fields (a ``dict``) already signed; change a field
    and call :meth:`sign` again to re-sign, or leave it to test a forgery.
    """

    def __init__(
        self,
        *,
        key_size: int = 2048,
        names: Iterable[str] | None = None,
        valid_from: datetime | None = None,
        valid_for: timedelta = timedelta(days=365),
        private_key: rsa.RSAPrivateKey | None = None,
        cert_id: str | None = None,
    ) -> None:
        self.private_key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        self.cert_id = cert_id or secrets.token_hex(16)
        start = valid_from or datetime.now(UTC) - timedelta(days=1)
        dns_names = (
            list(names)
            if names is not None
            else sorted({expected_certificate_name(r) for r in _REGIONS_FOR_NAMES})
        )
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + valid_for)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.private_key, hashes.SHA256())
        )
        self.certificate_pem: bytes = self.certificate.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def load_or_create(cls, cert_dir: str | Path, *, key_file: str | Path | None = None) -> SNSTestKit:
        """A kit whose key persists (the simulator's development key), so a service pinning
        ``cert_dir`` keeps trusting it across runs. The certificate goes into ``cert_dir``;
        the key never does (a service trusts what is in that folder): it lives in
        ``key_file``, by default :func:`dev_key_file` (beside ``cert_dir``), created 0600."""
        certs = Path(cert_dir)
        key_path = Path(key_file) if key_file is not None else dev_key_file(certs)
        if key_path.resolve().parent == certs.resolve():
            raise ValueError(
                f"the development key {key_path} must not be inside the certificate folder {certs}"
            )
        key_path.parent.mkdir(parents=True, exist_ok=True)
        _move_legacy_key(certs / _LEGACY_KEY_NAME, key_path)
        if not key_path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            # O_EXCL: a simulator started at the same moment may have written its key first.
            with contextlib.suppress(FileExistsError):
                write_new_private_file(key_path, pem)
        pem = key_path.read_bytes()
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} does not hold an RSA key")
        kit = cls(private_key=loaded, cert_id=hashlib.md5(pem, usedforsecurity=False).hexdigest())
        kit.write_cert_dir(certs)
        return kit

    @property
    def cert_filename(self) -> str:
        return f"SimpleNotificationService-{self.cert_id}.pem"

    def cert_url(self, topic_arn: str) -> str:
        """The SigningCertURL SNS would use for ``topic_arn``'s region."""
        return f"https://{self._host(topic_arn)}/{self.cert_filename}"

    def write_cert_dir(self, directory: str | Path) -> Path:
        """Write the certificate into ``directory`` under its URL basename; return the dir."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / self.cert_filename).write_bytes(self.certificate_pem)
        return path

    def verifier(
        self,
        allowed_topic_arns: Iterable[str] = (TEST_TOPIC_ARN,),
        *,
        cert_dir: str | Path | None = None,
        clock: Clock | None = None,
        **policy: Any,
    ) -> Verifier:
        """A :class:`Verifier` that trusts this kit (pinned certificate, no network)."""
        directory = self.write_cert_dir(cert_dir or tempfile.mkdtemp(prefix="sns-kit-"))
        return Verifier(
            VerificationPolicy(allowed_topic_arns=tuple(allowed_topic_arns), **policy),
            cert_dir=directory,
            clock=clock,
            fetch=False,
        )

    # -- message builders -------------------------------------------------------------

    def notification(
        self,
        topic_arn: str = TEST_TOPIC_ARN,
        message: str = "test message",
        *,
        subject: str | None = None,
        message_id: str | None = None,
        timestamp: datetime | str | None = None,
        signature_version: str = "2",
        message_attributes: Mapping[str, tuple[str, str]] | None = None,
        subscription_arn: str | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": topic_arn,
        }
        if subject is not None:
            fields["Subject"] = subject
        fields |= {
            "Message": message,
            "Timestamp": self._timestamp(timestamp),
            "SignatureVersion": signature_version,
            "Signature": "",
            "SigningCertURL": self.cert_url(topic_arn),
            "UnsubscribeURL": f"https://{self._host(topic_arn)}/?Action=Unsubscribe&SubscriptionArn="
            f"{subscription_arn or self.subscription_arn(topic_arn)}",
        }
        if message_attributes:
            fields["MessageAttributes"] = {
                k: {"Type": t, "Value": v} for k, (t, v) in message_attributes.items()
            }
        return self.sign(fields)

    def subscription_confirmation(
        self,
        topic_arn: str = TEST_TOPIC_ARN,
        *,
        token: str | None = None,
        message_id: str | None = None,
        timestamp: datetime | str | None = None,
        signature_version: str = "2",
    ) -> dict[str, Any]:
        return self._confirmation(
            "SubscriptionConfirmation",
            topic_arn=topic_arn,
            token=token,
            message_id=message_id,
            timestamp=timestamp,
            signature_version=signature_version,
        )

    def unsubscribe_confirmation(
        self,
        topic_arn: str = TEST_TOPIC_ARN,
        *,
        token: str | None = None,
        message_id: str | None = None,
        timestamp: datetime | str | None = None,
        signature_version: str = "2",
    ) -> dict[str, Any]:
        return self._confirmation(
            "UnsubscribeConfirmation",
            topic_arn=topic_arn,
            token=token,
            message_id=message_id,
            timestamp=timestamp,
            signature_version=signature_version,
        )

    def sign(self, fields: dict[str, Any]) -> dict[str, Any]:
        """(Re-)sign ``fields`` in place with its SignatureVersion; return it."""
        version = str(fields.get("SignatureVersion", "2"))
        fields["Signature"] = ""
        unsigned = parse(json.dumps(fields).encode(), max_bytes=1 << 40)  # the kit signs any size
        digest = SIGNATURE_VERSIONS[version].hash_factory()
        signature = self.private_key.sign(string_to_sign(unsigned), padding.PKCS1v15(), digest)
        fields["Signature"] = base64.b64encode(signature).decode("ascii")
        return fields

    @staticmethod
    def body(fields: Mapping[str, Any]) -> bytes:
        """The request body SNS would POST for ``fields``."""
        return json.dumps(fields, indent=2).encode("utf-8")

    @staticmethod
    def headers(fields: Mapping[str, Any]) -> dict[str, str]:
        """The headers SNS sends with ``fields``."""
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
            "x-amz-sns-message-type": str(fields["Type"]),
            "x-amz-sns-message-id": str(fields["MessageId"]),
            "x-amz-sns-topic-arn": str(fields["TopicArn"]),
        }
        unsubscribe = str(fields.get("UnsubscribeURL", ""))
        if "SubscriptionArn=" in unsubscribe:
            headers["x-amz-sns-subscription-arn"] = unsubscribe.split("SubscriptionArn=", 1)[1]
        return headers

    @staticmethod
    def subscription_arn(topic_arn: str) -> str:
        return f"{topic_arn}:{uuid.uuid5(uuid.NAMESPACE_URL, topic_arn)}"

    # -- helpers ---------------------------------------------------------------------------

    def _confirmation(
        self,
        kind: str,
        *,
        topic_arn: str,
        token: str | None,
        message_id: str | None,
        timestamp: datetime | str | None,
        signature_version: str,
    ) -> dict[str, Any]:
        token = token or secrets.token_hex(128)
        host = self._host(topic_arn)
        if kind == "SubscriptionConfirmation":
            text = (
                f"You have chosen to subscribe to the topic {topic_arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            )
        else:
            text = (
                f"You have chosen to deactivate subscription {self.subscription_arn(topic_arn)}.\n"
                "To cancel this operation and restore the subscription, visit the SubscribeURL "
                "included in this message."
            )
        fields: dict[str, Any] = {
            "Type": kind,
            "MessageId": message_id or str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic_arn,
            "Message": text,
            "SubscribeURL": f"https://{host}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
            "Timestamp": self._timestamp(timestamp),
            "SignatureVersion": signature_version,
            "Signature": "",
            "SigningCertURL": self.cert_url(topic_arn),
        }
        return self.sign(fields)

    @staticmethod
    def _timestamp(value: datetime | str | None) -> str:
        if isinstance(value, str):
            return value
        return format_timestamp(value or datetime.now(UTC))

    @staticmethod
    def _host(topic_arn: str) -> str:
        topic = TopicArn.parse(topic_arn)
        host = sns_host(topic) if topic is not None else None
        # A kit may sign messages for impossible topics on purpose (to test rejections).
        return host or "sns.us-east-1.amazonaws.com"


#: Where the development key used to be written: inside the trusted certificate folder.
_LEGACY_KEY_NAME: Final = ".sns-subscriber-dev-key.pem"


def dev_key_file(cert_dir: str | Path) -> Path:
    """Where :meth:`SNSTestKit.load_or_create` keeps the development key for ``cert_dir``:
    beside it, named after it (``var/certs`` -> ``var/certs.dev-key.pem``)."""
    certs = Path(cert_dir).resolve()
    return certs.parent / f"{certs.name or 'certs'}.dev-key.pem"


def _move_legacy_key(legacy: Path, key_path: Path) -> None:
    """Take a key written by an earlier version out of the certificate folder (same bytes,
    so the same certificate name: services that pinned it keep trusting it)."""
    if not legacy.is_file() or key_path.exists():
        return
    write_new_private_file(key_path, legacy.read_bytes())
    legacy.unlink()


@functools.cache
def default_kit() -> SNSTestKit:
    """One kit per process: RSA key generation is the slow part."""
    return SNSTestKit()
