"""Certificate-rationing starvation: junk certificate URLs must never starve a real message.

The attack (issue 10, finding 1): POST messages with the allow-listed TopicArn, a current
Timestamp, a junk Signature and a random ``SimpleNotificationService-<hex>.pem`` URL. Every
never-seen URL used a slot of the "new certificate URLs per minute" ration, so after ten of
them the next *real* message answered 503, even with its certificate pinned on disk, and one
junk request every few seconds kept it that way after every restart. SNS gives up after its
retry policy: alerts were lost.

Certificate downloads go to a real HTTPS server on 127.0.0.1 that answers for the SNS host
name (``connect_to``), never to the network.
"""

from __future__ import annotations

import asyncio
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber import (
    AsyncVerifier,
    CertificateFetchError,
    SNSSubscriberError,
    VerificationPolicy,
    Verifier,
    parse,
)
from sns_subscriber.messages import Notification
from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import build_runtime
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.https_server import LocalServer, serve_https
from .support.servers import request, serve_asgi

SNS_HOST = "sns.us-east-1.amazonaws.com"
ATTACKER = "198.51.100.9"
SNS_SENDER = "54.240.197.10"


def junk(kit: SNSTestKit) -> Notification:
    """What the attacker sends: allowed topic, current time, random cert URL, junk signature."""
    fields = kit.notification(TEST_TOPIC_ARN, "junk")
    fields["SigningCertURL"] = f"https://{SNS_HOST}/SimpleNotificationService-{secrets.token_hex(16)}.pem"
    fields["Signature"] = "AAAA" * 64
    message = parse(kit.body(fields))
    assert isinstance(message, Notification)
    return message


def genuine(kit: SNSTestKit) -> Notification:
    message = parse(kit.body(kit.notification(TEST_TOPIC_ARN, "a real alert")))
    assert isinstance(message, Notification)
    return message


def flood(verifier: Verifier, kit: SNSTestKit, *, clients: list[str | None]) -> list[str]:
    """Junk from each client in turn until the ration refuses; the reasons, in order."""
    reasons: list[str] = []
    for number in range(200):
        with pytest.raises(SNSSubscriberError) as caught:
            verifier.verify(junk(kit), client=clients[number % len(clients)])
        reasons.append(caught.value.reason)
        if "too many new certificate URLs" in caught.value.reason and number >= 10:
            return reasons
    raise AssertionError("the ration never refused a junk URL")


@pytest.fixture
def sns_host(sns_kit: SNSTestKit, rotated: SNSTestKit) -> Iterator[LocalServer]:
    """The SNS host: serves both kits' certificates; every other URL answers 404."""
    routes: dict[str, Any] = {
        f"/{k.cert_filename}": (200, {"content-type": "application/x-pem-file"}, k.certificate_pem)
        for k in (sns_kit, rotated)
    }
    with serve_https(routes, names=(SNS_HOST,)) as server:
        yield server


@pytest.fixture(scope="module")
def rotated() -> SNSTestKit:
    """SNS after a certificate rotation: a new key at a URL nobody has seen yet."""
    return SNSTestKit()


def fetching_verifier(server: LocalServer, **options: Any) -> Verifier:
    return Verifier(
        VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,)),
        ssl_context=server.ssl_context(),
        connect_to=("127.0.0.1", server.port),
        **options,
    )


def test_attack_junk_certificate_urls_do_not_ration_a_pinned_certificate(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    """Ten junk POSTs (and more, until the ration refuses) then a valid message whose
    certificate is pinned: accepted, without any download of its certificate."""
    verifier = fetching_verifier(sns_host, cert_dir=sns_kit.write_cert_dir(tmp_path / "certs"))
    reasons = flood(verifier, sns_kit, clients=[None])
    assert any("HTTP 404" in r for r in reasons)  # the junk URLs really were fetched, then rationed

    message = genuine(sns_kit)
    assert verifier.verify(message) is message
    assert sns_host.hits[f"/{sns_kit.cert_filename}"] == 0


def test_attack_ten_junk_messages_then_a_pinned_one_offline(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    """The issue's reproduction with the library as most tests use it (pinned directory, no
    downloads): ten junk messages, then the valid one verifies instead of being rationed."""
    verifier = sns_kit.verifier([TEST_TOPIC_ARN], cert_dir=tmp_path / "certs")
    for _ in range(10):
        with pytest.raises(CertificateFetchError, match="not in the pinned directory"):
            verifier.verify(junk(sns_kit))
    message = genuine(sns_kit)
    assert verifier.verify(message) is message


def test_attack_junk_does_not_ration_a_url_that_already_verified(
    sns_kit: SNSTestKit, sns_host: LocalServer
) -> None:
    """A certificate URL that verified a message before the flood stays usable after its
    cache entry is gone (expiry, eviction): it is reloaded without asking the ration."""
    verifier = fetching_verifier(sns_host)
    verifier.verify(genuine(sns_kit), client=SNS_SENDER)
    flood(verifier, sns_kit, clients=[f"203.0.113.{n}" for n in range(1, 40)])
    verifier.cache.clear()  # as after the certificate's cache entry expired

    message = genuine(sns_kit)
    assert verifier.verify(message, client=SNS_SENDER) is message
    assert sns_host.hits[f"/{sns_kit.cert_filename}"] == 2


def test_attack_one_clients_junk_does_not_ration_another_clients_new_certificate(
    sns_kit: SNSTestKit, rotated: SNSTestKit, sns_host: LocalServer
) -> None:
    """AWS rotated its certificate (a never-seen URL) while one sender floods junk: the junk
    sender uses up its own share only, and SNS's delivery still downloads the new one."""
    verifier = fetching_verifier(sns_host)
    reasons = flood(verifier, sns_kit, clients=[ATTACKER])
    assert "too many new certificate URLs" in reasons[-1]
    assert len(reasons) < 20  # refused on its own share, long before the overall one

    message = genuine(rotated)
    assert verifier.verify(message, client=SNS_SENDER) is message
    assert sns_host.hits[f"/{rotated.cert_filename}"] == 1


def test_ipv6_senders_share_one_budget_per_64_prefix(sns_kit: SNSTestKit, sns_host: LocalServer) -> None:
    """Rotating through the addresses of one IPv6 /64 does not multiply the junk budget."""
    verifier = fetching_verifier(sns_host)
    clients: list[str | None] = [f"2001:db8:1:2::{n:x}" for n in range(1, 200)]
    reasons = flood(verifier, sns_kit, clients=clients)
    assert len(reasons) < 20


def test_attack_known_certificate_url_is_not_rationed_after_a_restart(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    """The URL that verified a message is remembered in a 0600 file: after a restart, a flood
    from many senders (which uses up the overall ration) does not ration it."""
    known = tmp_path / "known-cert-urls"
    before = fetching_verifier(sns_host, known_urls_file=known)
    before.verify(genuine(sns_kit), client=SNS_SENDER)
    assert known.read_text().splitlines() == [sns_kit.cert_url(TEST_TOPIC_ARN)]
    assert stat.S_IMODE(known.stat().st_mode) == 0o600

    after = fetching_verifier(sns_host, known_urls_file=known)  # the restarted process
    flood(after, sns_kit, clients=[f"203.0.113.{n}" for n in range(1, 60)])
    message = genuine(sns_kit)
    assert after.verify(message, client=SNS_SENDER) is message


def test_junk_urls_are_never_remembered_as_known(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    """Only a URL whose certificate verified a signature is written down."""
    known = tmp_path / "known-cert-urls"
    verifier = fetching_verifier(sns_host, known_urls_file=known)
    flood(verifier, sns_kit, clients=[None])
    assert not known.exists()


def test_unreadable_known_urls_file_is_ignored(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    """A damaged file (binary junk, overlong lines) loads nothing and breaks nothing."""
    known = tmp_path / "known-cert-urls"
    known.write_bytes(b"\xff\xfe" + b"x" * 100_000 + b"\nhttps://" + b"a" * 2000 + b"\n")
    verifier = fetching_verifier(sns_host, known_urls_file=known)
    message = genuine(sns_kit)
    assert verifier.verify(message) is message
    assert known.read_text().splitlines() == [sns_kit.cert_url(TEST_TOPIC_ARN)]


def test_rationed_answer_is_a_temporary_failure(sns_kit: SNSTestKit, sns_host: LocalServer) -> None:
    """A rationed junk message gets 503 (SNS would retry a real one), not a permanent 4xx."""
    verifier = fetching_verifier(sns_host)
    flood(verifier, sns_kit, clients=[ATTACKER])
    with pytest.raises(CertificateFetchError, match="too many new certificate URLs"):
        verifier.verify(junk(sns_kit), client=ATTACKER)


def test_attack_junk_posts_do_not_starve_the_service_endpoint(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    """The issue's reproduction against the real service app: junk POSTs with random
    certificate URLs (ten, then more until refused), then a valid message whose certificate
    is pinned: 200, stored once."""
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
            statuses = []
            for _ in range(30):
                fields = sns_kit.notification(TEST_TOPIC_ARN, "junk")
                fields["SigningCertURL"] = (
                    f"https://{SNS_HOST}/SimpleNotificationService-{secrets.token_hex(16)}.pem"
                )
                fields["Signature"] = "AAAA" * 64
                statuses.append(
                    request(base + "/sns", body=sns_kit.body(fields), headers=sns_kit.headers(fields)).status
                )
            assert 200 not in statuses

            fields = sns_kit.notification(TEST_TOPIC_ARN, "a real alert")
            reply = request(base + "/sns", body=sns_kit.body(fields), headers=sns_kit.headers(fields))
            assert (reply.status, b'"accepted"' in reply.body) == (200, True)
            assert sum(runtime.store.counts().values()) == 1
    finally:
        runtime.close()


def test_service_verifiers_share_one_cache_and_remember_known_urls(
    sns_kit: SNSTestKit, tmp_path: Path
) -> None:
    """Every endpoint's verifiers (sync and async) share one cache, hence one download
    ration and one known-URL file, as configured by ``verification.known_urls_file``."""
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "verification": {
                "cert_dir": str(sns_kit.write_cert_dir(tmp_path / "certs")),
                "known_urls_file": str(tmp_path / "known"),
            },
            "endpoints": [{"path": p, "topics": [TEST_TOPIC_ARN], "confirm": "manual"} for p in ("/a", "/b")],
        },
        environ={},
    )
    runtime = build_runtime(config, with_actions=False)
    try:
        verifiers: list[Any] = [s.verifier for s in runtime.subscribers.values()]
        verifiers += [s.verifier for s in runtime.async_subscribers.values()]
        caches = {id(v.cache) for v in verifiers}
        assert len(caches) == 1
        runtime.subscribers["/b"].verifier.verify(genuine(sns_kit))
        assert (tmp_path / "known").read_text().splitlines() == [sns_kit.cert_url(TEST_TOPIC_ARN)]
    finally:
        runtime.close()


def test_replicas_sharing_the_known_urls_file_keep_each_others_urls(
    sns_kit: SNSTestKit, rotated: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    """Two processes started from the same (empty) file each vouch for a different URL: the
    file ends up holding both, not the last writer's list only."""
    known = tmp_path / "known-cert-urls"
    first = fetching_verifier(sns_host, known_urls_file=known)
    second = fetching_verifier(sns_host, known_urls_file=known)
    first.verify(genuine(sns_kit))
    second.verify(genuine(rotated))
    assert sorted(known.read_text().splitlines()) == sorted(
        [sns_kit.cert_url(TEST_TOPIC_ARN), rotated.cert_url(TEST_TOPIC_ARN)]
    )


def test_async_verifier_remembers_known_urls_too(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    known = tmp_path / "known-cert-urls"
    verifier = AsyncVerifier(
        VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,)),
        ssl_context=sns_host.ssl_context(),
        connect_to=("127.0.0.1", sns_host.port),
        known_urls_file=known,
    )
    message = genuine(sns_kit)
    assert asyncio.run(verifier.verify(message, client=SNS_SENDER)) is message
    assert known.read_text().splitlines() == [sns_kit.cert_url(TEST_TOPIC_ARN)]
    assert verifier.cache.vouched(sns_kit.cert_url(TEST_TOPIC_ARN))
