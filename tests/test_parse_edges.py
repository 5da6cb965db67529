"""Client mistakes in the body are 400s with a reason, never a 500 or an ERROR traceback.

Issue 10, finding 8: a 5000-digit JSON integer made ``int()`` raise ValueError (past Python's
4300-digit limit) and a lone surrogate (``"\\ud800"``) made the string to sign fail to encode;
both escaped as 500 with a traceback. Checked through the library's ``parse``/``Verifier`` and
through the real service app on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sns_subscriber import (
    InvalidCertificateError,
    RejectedMessageError,
    UntrustedCertificateURLError,
    VerificationPolicy,
    Verifier,
    parse,
)
from sns_subscriber.messages import parse_timestamp
from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import Runtime, build_runtime
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit
from sns_subscriber.verification import InsecurePolicyWarning

from .support.servers import request, serve_asgi


def _with(field: str, value: Any) -> Callable[[SNSTestKit], bytes]:
    def build(kit: SNSTestKit) -> bytes:
        fields: dict[str, Any] = kit.notification(TEST_TOPIC_ARN, "edge", subject="s")
        fields[field] = value
        return json.dumps(fields).encode()

    return build


def _replace(old: str, new: str) -> Callable[[SNSTestKit], bytes]:
    def build(kit: SNSTestKit) -> bytes:
        body = kit.body(kit.notification(TEST_TOPIC_ARN, "edge", subject="s")).decode()
        assert old in body
        return body.replace(old, new, 1).encode()

    return build


def _raw(data: bytes) -> Callable[[SNSTestKit], bytes]:
    return lambda kit: data


CASES: dict[str, Callable[[SNSTestKit], bytes]] = {
    "5000-digit integer field": _replace('"SignatureVersion": "2"', '"SignatureVersion": ' + "9" * 5000),
    "5000-digit integer elsewhere": _replace(
        "{",
        '{"Extra": ' + "1" * 5000 + ",",
    ),
    "lone high surrogate in Message": _with("Message", "\ud800"),
    "lone low surrogate in Subject": _with("Subject", "budget \udfff"),
    "lone surrogate in an attribute name": _with(
        "MessageAttributes", {"\ud800": {"Type": "String", "Value": "v"}}
    ),
    "lone surrogate in an unused key": _replace("{", '{"X\\ud834": 1,'),
    "huge float": _replace('"SignatureVersion": "2"', '"SignatureVersion": 1e999999'),
    "NaN": _replace('"SignatureVersion": "2"', '"SignatureVersion": NaN'),
    "Infinity": _replace('"SignatureVersion": "2"', '"SignatureVersion": -Infinity'),
    "deep nesting": _raw(b"[" * 200_000 + b"]" * 200_000),
    "deep nesting in an object": _raw(b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    "UTF-8 BOM": lambda kit: b"\xef\xbb\xbf" + kit.body(kit.notification(TEST_TOPIC_ARN, "bom")),
    "invalid UTF-8": _raw(b'{"Type": "Notification", "Message": "\xc3\x28"}'),
    "overlong UTF-8": _raw(b'{"Type": "\xc0\xae"}'),
    "encoded surrogate bytes": _raw(b'{"Message": "\xed\xa0\x80"}'),
    "empty body": _raw(b""),
    "JSON null": _raw(b"null"),
    "JSON string": _raw(b'"Notification"'),
    "Records not a list of one": _raw(b'{"Records": [1, 2]}'),
    "Records holding a number": _raw(b'{"Records": [1]}'),
    "Sns not an object": _raw(b'{"EventSource": "aws:sns", "Sns": 5}'),
    "Type a list": _with("Type", ["Notification"]),
    "MessageAttributes a list": _with("MessageAttributes", [1]),
    "attribute value a number": _with("MessageAttributes", {"a": {"Type": "Number", "Value": 5}}),
    "Timestamp out of range": _with("Timestamp", "2026-13-45T25:61:61.000Z"),
    "Timestamp year zero": _with("Timestamp", "0000-01-01T00:00:00.000Z"),
    "Timestamp offset out of range": _with("Timestamp", "2026-03-06T19:53:21.424+99:99"),
    "Timestamp far past": _with("Timestamp", "0001-01-01T00:00:00.000+00:01"),
    "Timestamp far future": _with("Timestamp", "9999-12-31T23:59:59.999-23:59"),
    "megabyte MessageId": _with("MessageId", "a" * 900_000),
}


@pytest.mark.parametrize("build", CASES.values(), ids=list(CASES))
def test_attack_parser_edge_cases_are_clean_rejections_in_the_library(
    sns_kit: SNSTestKit, build: Callable[[SNSTestKit], bytes]
) -> None:
    """parse() (and verify(), for what parse lets through) raise a RejectedMessageError."""
    body = build(sns_kit)
    verifier = sns_kit.verifier([TEST_TOPIC_ARN])
    with pytest.raises(RejectedMessageError) as caught:
        verifier.verify(parse(body))
    assert 0 < len(str(caught.value)) < 2000


@pytest.fixture
def service(tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[tuple[str, Runtime]]:
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "verification": {"cert_dir": str(sns_kit.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "service": {"worker": False},
            "endpoints": [{"path": "/sns", "topics": [TEST_TOPIC_ARN], "confirm": "manual"}],
        },
        environ={},
    )
    runtime = build_runtime(config, with_actions=False)
    from sns_subscriber.service.app import create_app

    try:
        with serve_asgi(create_app(runtime, run_worker=False)) as base:
            yield base, runtime
    finally:
        runtime.close()


def test_attack_parser_edge_cases_are_400s_from_the_service(
    sns_kit: SNSTestKit, service: tuple[str, Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    """Every edge case answers 400 with a reason; nothing is logged at ERROR and nothing is
    stored."""
    base, runtime = service
    caplog.set_level(logging.INFO)
    answers = {}
    for name, build in CASES.items():
        reply = request(base + "/sns", body=build(sns_kit), headers={"content-type": "text/plain"})
        answers[name] = (reply.status, b'"detail"' in reply.body)
    assert answers == dict.fromkeys(CASES, (400, True))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not any(r.exc_info for r in caplog.records)
    assert sum(runtime.store.counts().values()) == 0


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-03-06T19:53:21.424Z", "2026-03-06T19:53:21.424000+00:00"),
        ("2026-03-06T19:53:21.424+01:00", "2026-03-06T18:53:21.424000+00:00"),
        ("2026-03-06T19:53:21.123456789Z", "2026-03-06T19:53:21.123456+00:00"),
        ("2026-03-06T19:53:21Z", "2026-03-06T19:53:21+00:00"),
        ("0001-01-01T00:00:00.000+01:00", None),  # before year 1 in UTC: would overflow a comparison
        ("9999-12-31T23:59:59.999-01:00", None),
        ("２０２６-03-06T19:53:21.424Z", None),  # fullwidth digits
        ("2026-03-06T19:53:21.424Z" + " " * 100_000, None),
    ],
)
def test_timestamps_parse_to_utc_or_not_at_all(timestamp: str, expected: str | None) -> None:
    """Offsets are honoured (they were mangled), and a time that cannot be compared with "now"
    without overflowing is refused at parse time instead of failing later as a 500."""
    parsed = parse_timestamp(timestamp)
    assert (parsed.isoformat() if parsed else None) == expected


def test_attack_fullwidth_digits_in_topic_arn_are_malformed(sns_kit: SNSTestKit) -> None:
    fields: dict[str, Any] = sns_kit.notification(TEST_TOPIC_ARN, "m")
    fields["TopicArn"] = "arn:aws:sns:us-east-1:１２３４５６７８９０１２:t"
    with pytest.raises(RejectedMessageError, match="TopicArn"):
        parse(json.dumps(fields))


def _unknown_key_algorithm(pem: bytes) -> bytes:
    """``pem`` with its key's algorithm OID (rsaEncryption) changed to one nobody knows: the
    certificate still loads (cryptography parses lazily) but its key cannot be read."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    rsa_encryption = bytes.fromhex("06092a864886f70d010101")
    assert der.count(rsa_encryption) == 1
    changed = der.replace(rsa_encryption, rsa_encryption[:-1] + b"\x7f")
    body = base64.encodebytes(changed).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


def test_attack_unreadable_certificate_is_invalid_not_a_500(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    """A certificate whose key (or extensions) cannot be read is an InvalidCertificateError
    (403), not an exception the cache treats as a bug (500)."""
    cert_dir = sns_kit.write_cert_dir(tmp_path / "certs")
    (cert_dir / sns_kit.cert_filename).write_bytes(_unknown_key_algorithm(sns_kit.certificate_pem))
    verifier = Verifier(
        VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,)), cert_dir=cert_dir, fetch=False
    )
    with pytest.raises(InvalidCertificateError, match="does not parse"):
        verifier.verify(parse(sns_kit.body(sns_kit.notification(TEST_TOPIC_ARN, "m"))))


@pytest.mark.parametrize(
    "url", ["http://[::1/SimpleNotificationService-x.pem", "http://localhost:4566/" + "a" * 600 + ".pem"]
)
def test_attack_malformed_or_huge_url_with_a_trusted_development_host_is_untrusted(
    sns_kit: SNSTestKit, url: str
) -> None:
    """With a LocalStack host trusted, a certificate URL that does not even split (or that is
    too long to be worth caching) is untrusted (403), not a ValueError escaping as 500."""
    policy = VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,))
    with pytest.warns(InsecurePolicyWarning, match="development only"):
        verifier = Verifier(policy, trusted_url_hosts=frozenset({"localhost:4566"}), fetch=False)
    fields: dict[str, Any] = sns_kit.notification(TEST_TOPIC_ARN, "m")
    fields["SigningCertURL"] = url
    with pytest.raises(UntrustedCertificateURLError):
        verifier.verify(parse(json.dumps(fields)))
