"""Which certificate URLs and which certificates may sign SNS messages.

The rules (each attack they stop is a named test in ``tests/test_attacks.py``): the URL is exactly
``https://<SNS host of the topic's region>/SimpleNotificationService-<32 hex>.pem`` (no
userinfo, port, query or fragment: each of those has been used to smuggle an attacker's
certificate past looser checks), and the body is exactly one PEM certificate issued to the
SNS signing name for that region, inside its validity window.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.x509.oid import NameOID

from .exceptions import InvalidCertificateError, UntrustedCertificateURLError
from .messages import TopicArn

__all__ = [
    "SigningCertificate",
    "check_certificate_url",
    "expected_certificate_name",
    "load_signing_certificate",
    "sns_host",
]


@dataclass(frozen=True, slots=True)
class _Partition:
    name: str
    region_pattern: re.Pattern[str]
    dns_suffix: str


# Matched with fullmatch; order matters: the commercial partition's pattern is the catch-all.
_PARTITIONS: Final = (
    _Partition("aws-cn", re.compile(r"cn(?:-[a-z]+)+-\d+"), "amazonaws.com.cn"),
    _Partition("aws-us-gov", re.compile(r"us-gov(?:-[a-z]+)+-\d+"), "amazonaws.com"),
    _Partition("aws-iso", re.compile(r"us-iso(?:-[a-z]+)+-\d+"), "c2s.ic.gov"),
    _Partition("aws-iso-b", re.compile(r"us-isob(?:-[a-z]+)+-\d+"), "sc2s.sgov.gov"),
    _Partition("aws-iso-f", re.compile(r"us-isof(?:-[a-z]+)+-\d+"), "csp.hci.ic.gov"),
    _Partition("aws-iso-e", re.compile(r"eu-isoe(?:-[a-z]+)+-\d+"), "cloud.adc-e.uk"),
    _Partition("aws-eusc", re.compile(r"eusc(?:-[a-z]+)+-\d+"), "amazonaws.eu"),
    _Partition("aws", re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+"), "amazonaws.com"),
)
_BY_NAME: Final = {p.name: p for p in _PARTITIONS}

# AWS's own table of opt-in regions (as in the AWS SDK for Java v2's SnsHostProvider).
_OPT_IN_REGIONS: Final = frozenset(
    {
        "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
        "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "me-south-1", "me-central-1",
        "eu-south-1", "eu-south-2", "eu-central-2", "af-south-1", "il-central-1",
        "ca-west-1", "mx-central-1",
    }
)  # fmt: skip
_SPECIAL_NAMES: Final = {
    "cn-north-1": "sns-cn-north-1.amazonaws.com.cn",
    "cn-northwest-1": "sns-cn-northwest-1.amazonaws.com.cn",
    "us-gov-west-1": "sns-us-gov-west-1.amazonaws.com",
    "us-gov-east-1": "sns-us-gov-west-1.amazonaws.com",
    "us-iso-east-1": "sns-us-iso-east-1.c2s.ic.gov",
    "us-isob-east-1": "sns-us-isob-east-1.sc2s.sgov.gov",
    "us-isof-east-1": "sns-signing.us-isof-east-1.csp.hci.ic.gov",
    "us-isof-south-1": "sns-signing.us-isof-south-1.csp.hci.ic.gov",
    "eu-isoe-west-1": "sns-signing.eu-isoe-west-1.cloud.adc-e.uk",
    "eusc-de-east-1": "sns-signing.eusc-de-east-1.amazonaws.eu",
}

# Strict on purpose: the whole URL, lower case, nothing between host and path.
_CERT_URL: Final = re.compile(
    r"^https://(?P<host>[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)"
    r"(?P<path>/SimpleNotificationService-[0-9a-f]{32}\.pem)$"
)
_PEM_CERTIFICATE: Final = re.compile(
    rb"\A\s*-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*\Z"
)
_MIN_RSA_BITS: Final = 2048


def _partition_of(region: str) -> _Partition | None:
    for partition in _PARTITIONS:
        if partition.region_pattern.fullmatch(region):
            return partition
    return None


def sns_host(topic: TopicArn) -> str | None:
    """The SNS API host for the topic's region, or ``None`` if the partition and region
    don't belong together (``arn:aws:sns:cn-north-1:...`` is not a real topic)."""
    partition = _partition_of(topic.region)
    if partition is None or partition is not _BY_NAME.get(topic.partition):
        return None
    return f"sns.{topic.region}.{partition.dns_suffix}"


def expected_certificate_name(region: str) -> str:
    """The DNS name the signing certificate of ``region`` is issued to."""
    special = _SPECIAL_NAMES.get(region)
    if special is not None:
        return special
    partition = _partition_of(region) or _BY_NAME["aws"]
    if partition.name == "aws" and region in _OPT_IN_REGIONS:
        return f"sns-signing.{region}.amazonaws.com"
    return f"sns.{partition.dns_suffix}"


_URL_SHAPE_REASON: Final = (
    "SigningCertURL must be https://<sns host>/SimpleNotificationService-<32 hex>.pem "
    "with no user, port, query or fragment"
)
#: "https://" + a 253-character host + the 63-character path: nothing longer can be valid.
_MAX_CERT_URL_LENGTH: Final = 8 + 253 + 63


def _url_decision(url: str, topic_arn: str) -> str | None:
    """``None`` when ``url`` is acceptable for ``topic``, else the reason it is not.

    Not cached per URL (URLs come from strangers; a cache keyed on them is memory they pin):
    a length test, one anchored match on at most 324 characters and a cached per-topic host.
    """
    if len(url) > _MAX_CERT_URL_LENGTH:
        return _URL_SHAPE_REASON
    match = _CERT_URL.fullmatch(url)
    if match is None:
        return _URL_SHAPE_REASON
    topic = TopicArn.parse(topic_arn)
    expected = _sns_host_of(topic) if topic is not None else None
    if expected is None:
        return "TopicArn's region does not belong to its partition"
    if match["host"] != expected:
        return f"SigningCertURL host must be {expected}, the SNS host of the topic's region"
    return None


@functools.lru_cache(maxsize=256)
def _sns_host_of(topic: TopicArn) -> str | None:
    # Keyed on parsed, valid topics (each at most MAX_TOPIC_ARN_LENGTH long): bounded memory.
    return sns_host(topic)


# Accepted (URL, TopicArn) pairs only, so the steady state is one lookup: both values passed
# the checks (at most 324 and 400 characters), and a flood of distinct valid-looking pairs
# only makes the table start over.
_ACCEPTED: dict[tuple[str, str], None] = {}
_ACCEPTED_LOCK: Final = threading.Lock()
_MAX_ACCEPTED: Final = 1024


def check_certificate_url(url: str, topic_arn: str, *, message_id: str | None = None) -> None:
    """Raise :class:`UntrustedCertificateURLError` unless ``url`` is the SNS signing-certificate
    URL form on the SNS host of ``topic_arn``'s own region and partition."""
    key = (url, topic_arn)
    if key in _ACCEPTED:
        return
    reason = _url_decision(url, topic_arn)
    if reason is not None:
        raise UntrustedCertificateURLError(reason, message_id=message_id, topic_arn=None, value=url)
    with _ACCEPTED_LOCK:
        if len(_ACCEPTED) >= _MAX_ACCEPTED:
            _ACCEPTED.clear()
        _ACCEPTED[key] = None


def region_of_certificate_url(url: str) -> str | None:
    """The region named by an SNS certificate URL's host (``sns.<region>.<suffix>``)."""
    match = _CERT_URL.fullmatch(url)
    if match is None:
        return None
    labels = match["host"].split(".")
    return labels[1] if len(labels) > 2 and labels[0] == "sns" else None


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    """A checked SNS signing certificate."""

    public_key: RSAPublicKey
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]


def load_signing_certificate(pem: bytes, *, expected_name: str | None, now: datetime) -> SigningCertificate:
    """Check that ``pem`` is exactly one certificate for ``expected_name``, valid at ``now``,
    with an RSA key of at least 2048 bits; return its public key and validity."""
    if not _PEM_CERTIFICATE.match(pem):
        # A body with anything around the PEM block is how a reflected response on a genuine
        # SNS host was turned into a "certificate" (the Discourse SNS RCE of 2021).
        raise InvalidCertificateError("certificate body is not exactly one PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(pem)
        return _check_certificate(cert, expected_name=expected_name, now=now)
    except (ValueError, UnsupportedAlgorithm) as exc:
        # cryptography parses lazily: an unknown key type or a malformed extension surfaces
        # only when read. A certificate we cannot read is an invalid one, not our bug (500).
        raise InvalidCertificateError(f"certificate does not parse: {str(exc)[:200]}") from exc


def _check_certificate(
    cert: x509.Certificate, *, expected_name: str | None, now: datetime
) -> SigningCertificate:
    public_key = cert.public_key()
    if not isinstance(public_key, RSAPublicKey):
        raise InvalidCertificateError("certificate key is not RSA", value=type(public_key).__name__)
    if public_key.key_size < _MIN_RSA_BITS:
        raise InvalidCertificateError("certificate RSA key is too small", value=str(public_key.key_size))
    names = _certificate_names(cert)
    # expected_name is None only for an explicitly trusted development host (LocalStack).
    if expected_name is not None and expected_name not in names:
        raise InvalidCertificateError(
            f"certificate is not issued to {expected_name}", value=", ".join(names) or "(no names)"
        )
    _check_key_usage(cert)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < not_before:
        raise InvalidCertificateError("certificate is not valid yet", value=not_before.isoformat())
    if now > not_after:
        raise InvalidCertificateError("certificate has expired", value=not_after.isoformat())
    return SigningCertificate(public_key, not_before, not_after, names)


def _certificate_names(cert: x509.Certificate) -> tuple[str, ...]:
    # As in TLS hostname checking (RFC 6125): the SAN DNS names when present, else the CN.
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        names = tuple(n.lower() for n in san.value.get_values_for_type(x509.DNSName))
        if names:
            return names
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return tuple(str(cn.value).lower() for cn in cns)


def _check_key_usage(cert: x509.Certificate) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return
    if not usage.value.digital_signature:
        raise InvalidCertificateError("certificate key usage does not allow digital signatures")
