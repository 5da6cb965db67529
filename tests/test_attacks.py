"""One named test per known attack on SNS subscribers (README: What it checks).

Each test states the attack it stops. Most use the test kit (a throwaway key signing exactly
like SNS); a few use the real AWS-signed fixtures.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber import (
    InvalidCertificateError,
    InvalidSignatureError,
    MalformedMessageError,
    MessageExpiredError,
    MessageTooLargeError,
    Notification,
    TopicNotAllowedError,
    UnsupportedMessageError,
    UntrustedCertificateURLError,
    VerificationPolicy,
    Verifier,
    parse,
)
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .conftest import fixture_verifier, signed_fixtures

HEX = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def verifier(sns_kit: SNSTestKit, tmp_path: Path) -> Verifier:
    return sns_kit.verifier([TEST_TOPIC_ARN], cert_dir=tmp_path)


def _with_cert_url(kit: SNSTestKit, url: str) -> Notification:
    """A correctly signed message whose (unsigned) SigningCertURL points at ``url``."""
    fields = kit.notification(TEST_TOPIC_ARN, "attack")
    fields["SigningCertURL"] = url
    message = parse(kit.body(fields))
    assert isinstance(message, Notification)
    return message


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            f"https://s3.amazonaws.com/evil-bucket/SimpleNotificationService-{HEX}.pem",
            id="s3-path-style",
        ),
        pytest.param(
            f"https://evil-bucket.s3.amazonaws.com/SimpleNotificationService-{HEX}.pem",
            id="s3-virtual-host",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-{HEX}.pem",
            id="suffix",
        ),
        pytest.param(
            f"https://evilsns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem",
            id="prefix",
        ),
        pytest.param(f"https://sns.us-east-1.amazonaws.co/SimpleNotificationService-{HEX}.pem", id="tld"),
        pytest.param(f"https://sns-us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem", id="dash"),
        pytest.param(
            f"https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-{HEX}.pem",
            id="upper-case",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com./SimpleNotificationService-{HEX}.pem",
            id="trailing-dot",
        ),
        pytest.param(f"https://sns.evil.amazonaws.com/SimpleNotificationService-{HEX}.pem", id="fake-region"),
    ],
)
def test_attack_lookalike_certificate_host_is_untrusted(
    sns_kit: SNSTestKit, verifier: Verifier, url: str
) -> None:
    """Attack: host a self-signed cert on any *.amazonaws.com host (an S3 bucket) or a
    look-alike domain and sign forged messages with it."""
    with pytest.raises(UntrustedCertificateURLError) as info:
        verifier.verify(_with_cert_url(sns_kit, url))
    assert info.value.value == url


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"http://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem", id="http"),
        pytest.param(
            f"https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem",
            id="userinfo",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-{HEX}.pem",
            id="userinfo-host",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-{HEX}.pem",
            id="port-443",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-{HEX}.pem",
            id="port",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem?x=1",
            id="query",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com/?Action=GetEndpointAttributes&x=SimpleNotificationService-{HEX}.pem",
            id="api-query",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem#frag",
            id="fragment",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com/x/../SimpleNotificationService-{HEX}.pem",
            id="dot-segments",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com//SimpleNotificationService-{HEX}.pem",
            id="double-slash",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}%2epem",
            id="encoded",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com\\@evil.com/SimpleNotificationService-{HEX}.pem",
            id="backslash",
        ),
        pytest.param(
            f" https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem",
            id="leading-space",
        ),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX}.pem\n",
            id="newline",
        ),
        pytest.param("https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem", id="no-hash"),
        pytest.param("https://sns.us-east-1.amazonaws.com/evil.pem", id="other-file"),
        pytest.param(
            f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HEX.upper()}.pem",
            id="upper-hex",
        ),
    ],
)
def test_attack_url_tricks_are_untrusted(sns_kit: SNSTestKit, verifier: Verifier, url: str) -> None:
    """Attack: plain http, userinfo, ports, query strings and fragments (the 2021 reflected
    certificate used a query on the genuine SNS host), path tricks and parser differentials."""
    with pytest.raises(UntrustedCertificateURLError):
        verifier.verify(_with_cert_url(sns_kit, url))


def test_attack_certificate_from_another_region_is_untrusted(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    """Attack: a genuine-looking SNS host of a different region than the topic's."""
    url = f"https://sns.us-west-2.amazonaws.com/{sns_kit.cert_filename}"
    with pytest.raises(UntrustedCertificateURLError, match="us-east-1"):
        verifier.verify(_with_cert_url(sns_kit, url))


def test_attack_partition_mismatch_is_untrusted(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    """Attack: an aws-cn topic ARN with a region of the commercial partition (or the reverse)."""
    topic = "arn:aws-cn:sns:us-east-1:123456789012:t"
    fields = sns_kit.notification(topic, "x")
    fields["SigningCertURL"] = f"https://sns.us-east-1.amazonaws.com/{sns_kit.cert_filename}"
    verifier = sns_kit.verifier([topic], cert_dir=tmp_path)
    with pytest.raises(UntrustedCertificateURLError, match="partition"):
        verifier.verify(parse(sns_kit.body(sns_kit.sign(fields))))


def test_china_and_govcloud_topics_verify(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    topics = ["arn:aws-cn:sns:cn-north-1:123456789012:t", "arn:aws-us-gov:sns:us-gov-east-1:123456789012:t",
              "arn:aws:sns:af-south-1:123456789012:t", "arn:aws-eusc:sns:eusc-de-east-1:123456789012:t"]  # fmt: skip
    verifier = sns_kit.verifier(topics, cert_dir=tmp_path)
    hosts = []
    for topic in topics:
        message = parse(sns_kit.body(sns_kit.notification(topic, "x")))
        assert verifier.verify(message) is message
        hosts.append(message.signing_cert_url.split("/")[2])
    assert hosts == ["sns.cn-north-1.amazonaws.com.cn", "sns.us-gov-east-1.amazonaws.com",
                     "sns.af-south-1.amazonaws.com", "sns.eusc-de-east-1.amazonaws.eu"]  # fmt: skip


def _pinned_verifier(tmp_path: Path, kit: SNSTestKit, pem: bytes, **policy: Any) -> Verifier:
    (tmp_path / kit.cert_filename).write_bytes(pem)
    return Verifier(
        VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,), **policy),
        cert_dir=tmp_path,
        fetch=False,
    )


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(
            lambda pem: (
                b"<GetEndpointAttributesResponse><Value>" + pem + b"</Value></GetEndpointAttributesResponse>"
            ),
            id="xml",
        ),
        pytest.param(lambda pem: pem + b"trailing junk", id="trailing"),
        pytest.param(lambda pem: b"junk\n" + pem, id="leading"),
        pytest.param(lambda pem: pem + pem, id="two-certificates"),
        pytest.param(lambda pem: pem.replace(b"CERTIFICATE", b"PUBLIC KEY"), id="not-a-certificate"),
        pytest.param(lambda pem: b"", id="empty"),
    ],
)
def test_attack_reflected_non_pem_body_is_rejected(sns_kit: SNSTestKit, tmp_path: Path, wrap: Any) -> None:
    """Attack (Discourse SNS RCE, 2021): a response from the genuine SNS host that merely
    contains an attacker's PEM (e.g. inside XML) must not be taken as the certificate."""
    verifier = _pinned_verifier(tmp_path, sns_kit, wrap(sns_kit.certificate_pem))
    with pytest.raises(InvalidCertificateError):
        verifier.verify(parse(sns_kit.body(sns_kit.notification())))


def test_attack_certificate_for_another_name_is_rejected(tmp_path: Path) -> None:
    """Attack: a certificate (even one a CA issued) for any other name than SNS's."""
    evil = SNSTestKit(names=["evil.example.com"])
    verifier = _pinned_verifier(tmp_path, evil, evil.certificate_pem)
    with pytest.raises(InvalidCertificateError, match=r"sns\.amazonaws\.com"):
        verifier.verify(parse(evil.body(evil.notification())))


def test_attack_opt_in_region_requires_its_own_signing_name(tmp_path: Path) -> None:
    """The opt-in regions sign with sns-signing.<region>.amazonaws.com, not sns.amazonaws.com."""
    kit = SNSTestKit(names=["sns.amazonaws.com"])
    topic = "arn:aws:sns:me-south-1:123456789012:t"
    (tmp_path / kit.cert_filename).write_bytes(kit.certificate_pem)
    verifier = Verifier(VerificationPolicy(allowed_topic_arns=(topic,)), cert_dir=tmp_path, fetch=False)
    with pytest.raises(InvalidCertificateError, match=r"sns-signing\.me-south-1\.amazonaws\.com"):
        verifier.verify(parse(kit.body(kit.notification(topic, "x"))))


def test_attack_expired_certificate_is_rejected(tmp_path: Path) -> None:
    """Attack: a leaked key of a retired SNS certificate."""
    old = SNSTestKit(valid_from=datetime.now(UTC) - timedelta(days=400), valid_for=timedelta(days=365))
    verifier = _pinned_verifier(tmp_path, old, old.certificate_pem)
    with pytest.raises(InvalidCertificateError, match="expired"):
        verifier.verify(parse(old.body(old.notification())))


def test_certificate_not_yet_valid_is_rejected(tmp_path: Path) -> None:
    future = SNSTestKit(valid_from=datetime.now(UTC) + timedelta(days=2))
    verifier = _pinned_verifier(tmp_path, future, future.certificate_pem)
    with pytest.raises(InvalidCertificateError, match="not valid yet"):
        verifier.verify(parse(future.body(future.notification())))


def test_attack_weak_rsa_key_is_rejected(tmp_path: Path) -> None:
    """Attack: a certificate with a factorable 1024-bit key."""
    weak = SNSTestKit(key_size=1024)
    verifier = _pinned_verifier(tmp_path, weak, weak.certificate_pem)
    with pytest.raises(InvalidCertificateError, match="too small"):
        verifier.verify(parse(weak.body(weak.notification())))


def test_real_certificate_checked_against_the_verifier_clock() -> None:
    """The real 2026 certificate is valid until 2026-10-14: a clock after that rejects it."""
    fixture = next(
        f for f in signed_fixtures() if "7506a1e3" in f.path.read_text() and f.type == "Notification"
    )
    message = fixture.message()
    verifier = fixture_verifier(message, max_age=timedelta(days=3650))
    verifier.clock = lambda: datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(InvalidCertificateError, match="expired"):
        verifier.verify(message)


def test_attack_signature_version_swap_fails(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    """Attack: relabel a SHA-1 signature as version 2 (the version field is unsigned)."""
    fields = sns_kit.notification(signature_version="1")
    fields["SignatureVersion"] = "2"
    with pytest.raises(InvalidSignatureError):
        verifier.verify(parse(sns_kit.body(fields)))
    fields = sns_kit.notification(signature_version="2")
    fields["SignatureVersion"] = "1"
    with pytest.raises(InvalidSignatureError):
        verifier.verify(parse(sns_kit.body(fields)))


@pytest.mark.parametrize("version", ["3", "0", "", "1.0", " 2", "SHA256", "RSA-PSS"])
def test_attack_unknown_signature_version_is_unsupported(
    sns_kit: SNSTestKit, verifier: Verifier, version: str
) -> None:
    """Attack: pick a weaker or attacker-defined algorithm through the unsigned version field."""
    fields = sns_kit.notification()
    fields["SignatureVersion"] = version
    with pytest.raises(UnsupportedMessageError) as info:
        verifier.verify(parse(sns_kit.body(fields)))
    assert info.value.value == version


def test_policy_can_require_signature_version_2(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    """Downgrade to SHA-1 refused where the topic is known to sign with SHA-256."""
    verifier = sns_kit.verifier([TEST_TOPIC_ARN], cert_dir=tmp_path, signature_versions=frozenset({"2"}))
    assert verifier.verify(parse(sns_kit.body(sns_kit.notification(signature_version="2"))))
    with pytest.raises(InvalidSignatureError, match="policy"):
        verifier.verify(parse(sns_kit.body(sns_kit.notification(signature_version="1"))))


def test_attack_foreign_topic_is_rejected_before_any_fetch(
    sns_kit: SNSTestKit, no_network: list[str]
) -> None:
    """Attack: subscribe our URL to the attacker's own topic. The signature is genuine SNS,
    but the message is not for us; and it must not even cost us a certificate fetch."""
    verifier = Verifier(VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,)))  # fetching allowed
    foreign = "arn:aws:sns:us-east-1:999999999999:attacker"
    with pytest.raises(TopicNotAllowedError) as info:
        verifier.verify(parse(sns_kit.body(sns_kit.notification(foreign, "hi"))))
    assert info.value.topic_arn == foreign
    assert no_network == []
    assert verifier.cache.stats.loads == 0


def test_attack_stale_message_replay_is_rejected(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    """Attack: replay a captured genuine message later (SNS never retries after ~1 h)."""
    old = datetime.now(UTC) - timedelta(hours=1, minutes=6)
    with pytest.raises(MessageExpiredError, match="older"):
        verifier.verify(parse(sns_kit.body(sns_kit.notification(timestamp=old))))
    recent = datetime.now(UTC) - timedelta(minutes=59)
    assert verifier.verify(parse(sns_kit.body(sns_kit.notification(timestamp=recent))))


def test_attack_real_fixture_replayed_today_is_rejected() -> None:
    fixture = signed_fixtures()[0]
    message = fixture.message()
    verifier = fixture_verifier(message)
    verifier.clock = lambda: message.sent_at + timedelta(hours=2)
    with pytest.raises(MessageExpiredError):
        verifier.verify(message)


def test_attack_future_timestamp_is_rejected(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    """Attack: a pre-signed message dated in the future to outlive the replay window."""
    future = datetime.now(UTC) + timedelta(minutes=10)
    with pytest.raises(MessageExpiredError, match="future"):
        verifier.verify(parse(sns_kit.body(sns_kit.notification(timestamp=future))))


def test_confirmation_may_be_two_days_old(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    old = datetime.now(UTC) - timedelta(days=1)
    assert verifier.verify(parse(sns_kit.body(sns_kit.subscription_confirmation(timestamp=old))))
    older = datetime.now(UTC) - timedelta(days=2, hours=1)
    with pytest.raises(MessageExpiredError):
        verifier.verify(parse(sns_kit.body(sns_kit.subscription_confirmation(timestamp=older))))


def test_unsigned_fields_changed_do_not_matter(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    """UnsubscribeURL and MessageAttributes are not signed: changing them must neither break
    verification nor be trusted (nothing security-relevant reads them)."""
    fields = sns_kit.notification(message_attributes={"a": ("String", "1")})
    fields["UnsubscribeURL"] = "https://evil.example.com/unsubscribe"
    fields["MessageAttributes"] = {"a": {"Type": "String", "Value": "tampered"}}
    message = verifier.verify(parse(sns_kit.body(fields)))
    assert isinstance(message, Notification)
    assert message.message_attributes["a"].value == "tampered"


def test_unsigned_fields_of_a_real_message_do_not_matter() -> None:
    fixture = next(f for f in signed_fixtures() if "message-attributes-2015" in f.name)
    fields = json.loads(fixture.body)
    fields["UnsubscribeURL"] = "https://example.com/changed"
    fields["MessageAttributes"] = {}
    message = parse(json.dumps(fields).encode())
    assert fixture_verifier(message).verify(message) is message


def test_attack_signature_garbage_is_rejected(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    for bad in [
        "not base64!!",
        "",
        base64.b64encode(b"short").decode(),
        base64.b64encode(bytes(256)).decode(),
    ]:
        fields = sns_kit.notification()
        fields["Signature"] = bad
        with pytest.raises(InvalidSignatureError):
            verifier.verify(parse(sns_kit.body(fields)))


def test_attack_message_signed_by_another_key_is_rejected(sns_kit: SNSTestKit, verifier: Verifier) -> None:
    """Attack: sign with your own key and point at the genuine certificate URL."""
    other = SNSTestKit()
    fields = other.notification()
    fields["SigningCertURL"] = sns_kit.cert_url(TEST_TOPIC_ARN)
    with pytest.raises(InvalidSignatureError):
        verifier.verify(parse(other.body(fields)))


def test_attack_duplicate_keys_are_malformed(sns_kit: SNSTestKit) -> None:
    """Attack: two Message keys, one seen by the verifier and another by the handler."""
    body = sns_kit.body(sns_kit.notification(message="benign")).rstrip(b"}\n") + b', "Message": "evil"}'
    with pytest.raises(MalformedMessageError, match="duplicate"):
        parse(body)


def test_attack_oversized_body_is_refused_before_parsing() -> None:
    with pytest.raises(MessageTooLargeError):
        parse(b"{" + b" " * (1024 * 1024) + b"}")


def test_sha1_forbidden_by_host_policy_names_the_fix(
    sns_kit: SNSTestKit, verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On RHEL 9-like hosts SHA-1 verification fails for every message: say why."""
    from sns_subscriber import signing

    monkeypatch.setattr(signing, "sha1_signatures_available", lambda: False)
    fields = sns_kit.notification(signature_version="1")
    fields["Message"] = "changed"  # a failing SHA-1 verification, as such a host would report
    with pytest.raises(UnsupportedMessageError, match="SignatureVersion=2"):
        verifier.verify(parse(sns_kit.body(fields)))


def test_sha1_is_available_here() -> None:
    from sns_subscriber.signing import sha1_signatures_available

    assert sha1_signatures_available() is True


def test_verify_returns_the_same_object_and_keeps_unsigned_fields_out_of_repr(
    sns_kit: SNSTestKit, verifier: Verifier
) -> None:
    message = parse(sns_kit.body(sns_kit.notification()))
    assert isinstance(message, Notification)
    assert verifier.verify(message) is message
    assert "Unsubscribe" not in repr(message)
    assert dataclasses.replace(message).unsubscribe_url == message.unsubscribe_url
