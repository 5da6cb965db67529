"""The SNS string to sign and the signature-version registry.

As SNS builds it (the real AWS-signed messages in ``tests/data/signed`` verify with it).
For each key, in this fixed (byte-sorted) order:
``key \\n value \\n`` — every value followed by a newline, ``Subject`` only when present.
Values are the exact decoded JSON strings, UTF-8 encoded.
"""

from __future__ import annotations

import binascii
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .exceptions import InvalidSignatureError, UnsupportedMessageError
from .messages import Notification, SNSMessage

__all__ = ["SIGNATURE_VERSIONS", "SignatureAlgorithm", "string_to_sign", "verify_signature"]


@dataclass(frozen=True)
class SignatureAlgorithm:
    """One ``SignatureVersion`` value and the algorithm it names."""

    version: str
    name: str
    #: Built on first use so that a host whose policy forbids SHA-1 can still import us.
    hash_factory: Callable[[], hashes.HashAlgorithm]

    @functools.cached_property
    def hash(self) -> hashes.HashAlgorithm:
        # Hash algorithm objects are immutable descriptors: one per version is enough.
        return self.hash_factory()


SIGNATURE_VERSIONS: Final[dict[str, SignatureAlgorithm]] = {
    "1": SignatureAlgorithm("1", "SHA1withRSA", hashes.SHA1),
    "2": SignatureAlgorithm("2", "SHA256withRSA", hashes.SHA256),
}

_PKCS1 = padding.PKCS1v15()


def string_to_sign(message: SNSMessage) -> bytes:
    """The exact bytes SNS signed for ``message``."""
    if isinstance(message, Notification):
        parts = ["Message", message.message, "MessageId", message.message_id]
        if message.subject is not None:
            parts += ["Subject", message.subject]
        parts += [
            "Timestamp", message.timestamp,
            "TopicArn", message.topic_arn,
            "Type", message.type,
        ]  # fmt: skip
    else:
        parts = [
            "Message", message.message,
            "MessageId", message.message_id,
            "SubscribeURL", message.subscribe_url,
            "Timestamp", message.timestamp,
            "Token", message.token,
            "TopicArn", message.topic_arn,
            "Type", message.type,
        ]  # fmt: skip
    parts.append("")  # every value, the last included, ends with "\n"
    return "\n".join(parts).encode("utf-8")


def algorithm_for(version: str, *, message_id: str | None = None) -> SignatureAlgorithm:
    """Look up a ``SignatureVersion``; anything but "1" and "2" is unsupported."""
    algorithm = SIGNATURE_VERSIONS.get(version)
    if algorithm is None:
        raise UnsupportedMessageError(
            "unsupported SignatureVersion (only 1 and 2 exist)",
            message_id=message_id,
            value=version,
        )
    return algorithm


def decode_signature(signature: str, *, message_id: str | None = None) -> bytes:
    try:
        return binascii.a2b_base64(signature, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignatureError("Signature is not valid base64", message_id=message_id) from exc


def _one_line_fields(message: SNSMessage) -> tuple[str | None, ...]:
    if isinstance(message, Notification):
        return (message.message_id, message.subject, message.timestamp, message.topic_arn)
    return (message.message_id, message.subscribe_url, message.timestamp, message.token, message.topic_arn)


def verify_signature(public_key: RSAPublicKey, message: SNSMessage) -> None:
    """Check ``message.signature`` against ``public_key``; raise InvalidSignatureError."""
    algorithm = algorithm_for(message.signature_version, message_id=message.message_id)
    # parse() already refuses these; a message built by hand must not slip past either. A line
    # break in any signed field but Message would let one signature cover a re-cut message.
    if any(value is not None and "\n" in value for value in _one_line_fields(message)):
        raise InvalidSignatureError(
            "a signed field other than Message holds a line break", message_id=message.message_id
        )
    signature = decode_signature(message.signature, message_id=message.message_id)
    try:
        public_key.verify(signature, string_to_sign(message), _PKCS1, algorithm.hash)
    except InvalidSignature as exc:
        if algorithm.version == "1" and not sha1_signatures_available():
            raise _sha1_disabled(message.message_id) from exc
        raise InvalidSignatureError(
            "signature does not match the message",
            message_id=message.message_id,
            topic_arn=message.topic_arn,
        ) from exc
    except UnsupportedAlgorithm as exc:
        raise _sha1_disabled(message.message_id) from exc


def _sha1_disabled(message_id: str) -> UnsupportedMessageError:
    return UnsupportedMessageError(
        "this host's crypto policy forbids SHA-1 signatures (SignatureVersion 1); "
        "set the topic attribute SignatureVersion=2 to have SNS sign with SHA-256",
        message_id=message_id,
        value="1",
    )


@functools.cache
def sha1_signatures_available() -> bool:
    """Whether this host's OpenSSL still verifies SHA1withRSA (RHEL 9 / Fedora policies don't).

    Only asked after a version-1 signature failed, to tell a policy refusal from a forgery.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415 - rarely needed

    try:
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - a throwaway self-test key
        data = b"sns-subscriber sha1 self-test"
        sig = key.sign(data, _PKCS1, hashes.SHA1())  # noqa: S303 - testing SHA-1 support itself
        key.public_key().verify(sig, data, _PKCS1, hashes.SHA1())  # noqa: S303
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True
