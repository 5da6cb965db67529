"""Cold certificate cache: N concurrent first verifications of one certificate URL -> fetches.

The certificate source is a real HTTPS server (``sns_subscriber.testing.https_server``) on 127.0.0.1 with a
throwaway CA, serving the kit's PEM at ``/SimpleNotificationService-<id>.pem`` under a server
certificate for ``sns.us-east-1.amazonaws.com``. The ``Verifier`` has no hook to reach the SNS
host name on another address, so it is given a ``CertificateCache`` whose loader does what the
Verifier's own loader does (``fetch_certificate_pem`` then ``load_signing_certificate`` with the
region's expected name), with ``connect_to=("127.0.0.1", port)`` and the test CA's context: TLS
still verifies the SNS host name. The route answers after ``--delay`` seconds so that every
verification starts while the first download is in flight.

Two runs, each with a fresh cache: N threads calling ``Verifier.verify`` released together by a
barrier, and N asyncio tasks awaiting ``AsyncVerifier.verify``. Target: 1 fetch each.

    python -m bench.cold_cache [--concurrency 200] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from sns_subscriber import AsyncVerifier, VerificationPolicy, Verifier, parse
from sns_subscriber.cache import CertificateCache, Loaded
from sns_subscriber.certs import (
    expected_certificate_name,
    load_signing_certificate,
    region_of_certificate_url,
)
from sns_subscriber.fetch import fetch_certificate_pem
from sns_subscriber.messages import SNSMessage
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit
from sns_subscriber.testing.https_server import Route, make_test_ca, serve_https

from .common import print_result

HOST = "sns.us-east-1.amazonaws.com"


def make_loader(context: ssl.SSLContext, port: int) -> Callable[[str], Loaded[RSAPublicKey]]:
    def load(url: str) -> Loaded[RSAPublicKey]:
        region = region_of_certificate_url(url)
        if region is None:
            raise ValueError(f"not an SNS certificate URL: {url}")
        pem = fetch_certificate_pem(url, ssl_context=context, connect_to=("127.0.0.1", port))
        cert = load_signing_certificate(
            pem, expected_name=expected_certificate_name(region), now=datetime.now(UTC)
        )
        return Loaded(cert.public_key, cert.not_after)

    return load


def threaded(verifier: Verifier, messages: list[SNSMessage]) -> int:
    barrier = threading.Barrier(len(messages))
    verified: list[int] = []
    lock = threading.Lock()

    def one(message: SNSMessage) -> None:
        barrier.wait(timeout=30)
        verifier.verify(message)
        with lock:
            verified.append(1)

    threads = [threading.Thread(target=one, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return len(verified)


async def concurrent_tasks(verifier: AsyncVerifier, messages: list[SNSMessage]) -> int:
    results = await asyncio.wait_for(asyncio.gather(*(verifier.verify(m) for m in messages)), timeout=60)
    return len(results)


def run(concurrency: int = 200, delay: float = 0.2) -> dict[str, Any]:
    kit = SNSTestKit()
    messages: list[SNSMessage] = [
        parse(kit.body(kit.notification(TEST_TOPIC_ARN, f"cold cache {i}"))) for i in range(concurrency)
    ]
    path = "/" + kit.cert_filename
    policy = VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,))
    ca = make_test_ca()
    runs: dict[str, dict[str, Any]] = {}
    with serve_https(
        {path: Route(200, {"content-type": "text/plain"}, kit.certificate_pem, delay=delay)},
        ca=ca,
        names=(HOST,),
    ) as server:
        context = server.ssl_context()
        for kind in ("threads", "asyncio"):
            before = server.hits[path]
            cache: CertificateCache[RSAPublicKey] = CertificateCache(make_loader(context, server.port))
            start = time.perf_counter()
            if kind == "threads":
                verified = threaded(Verifier(policy, fetch=True, ssl_context=context, cache=cache), messages)
            else:
                verified = asyncio.run(
                    concurrent_tasks(
                        AsyncVerifier(policy, fetch=True, ssl_context=context, cache=cache), messages
                    )
                )
            elapsed = time.perf_counter() - start
            stats = cache.stats
            runs[kind] = {
                "fetches": server.hits[path] - before,
                "verified": verified,
                "loads": stats.loads,
                "misses": stats.misses,
                "hits": stats.hits,
                "seconds": elapsed,
            }
    fetches = max(r["fetches"] for r in runs.values())
    return {
        "concurrency": concurrency,
        "fetches": fetches,
        "runs": runs,
        "target": 1,
        "ok": fetches == 1 and all(r["verified"] == concurrency for r in runs.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    print_result("cold_cache", run(args.concurrency, args.delay))


if __name__ == "__main__":
    main()
