"""parse + verify throughput vs a bare `cryptography` RSA verify loop, in one process.

Both loops verify the same number of distinct signed messages with the same key; the ratio
(ours / floor) is what counts, since absolute numbers move with the machine's load. The
certificate is warm in the cache (steady state of a subscriber).

    python -m bench.verify [--messages 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from sns_subscriber import parse
from sns_subscriber.signing import decode_signature, string_to_sign
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples
from sns_subscriber.verification import Verifier


def build(kit: SNSTestKit, count: int) -> list[bytes]:
    """Distinct AWS Budgets alerts (the product's main case), worded exactly like AWS's."""
    now = datetime.now(UTC)
    bodies = []
    for i in range(count):
        subject, text = samples.budget_alert(
            budget_name=f"team-{i}-prod", amount=f"{90 + i % 10}.{i % 100:02d}"
        )
        bodies.append(kit.body(kit.notification(TEST_TOPIC_ARN, text, subject=subject, timestamp=now)))
    return bodies


def prepare_floor(kit: SNSTestKit, bodies: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The floor's inputs: (signature, string to sign) pairs, computed ahead."""
    pairs = []
    for body in bodies:
        message = parse(body)
        pairs.append((decode_signature(message.signature), string_to_sign(message)))
    return pairs


def floor_chunk(key: RSAPublicKey, pairs: list[tuple[bytes, bytes]]) -> float:
    """The floor: only RSA verification of precomputed (signature, data) pairs; seconds."""
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    start = time.perf_counter()
    for signature, data in pairs:
        key.verify(signature, data, pkcs1, sha256)
    return time.perf_counter() - start


def our_chunk(verifier: Verifier, bodies: list[bytes]) -> float:
    """Ours: parse() and Verifier.verify() of each body; seconds."""
    start = time.perf_counter()
    for body in bodies:
        verifier.verify(parse(body))
    return time.perf_counter() - start


def run(messages: int = 2000, rounds: int = 5, chunk: int = 50) -> dict[str, float]:
    """Rounds over all messages; within a round the two sides alternate every ``chunk``
    messages (in alternating order), so the machine's speed changes, which on this shared
    host happen within a second, hit both sides alike."""
    kit = SNSTestKit()
    bodies = build(kit, messages)
    pairs = prepare_floor(kit, bodies)
    key = kit.certificate.public_key()
    assert isinstance(key, RSAPublicKey)
    verifier = kit.verifier([TEST_TOPIC_ARN])
    verifier.verify(parse(bodies[0]))  # warm the certificate cache
    ratios, ours, floors = [], [], []
    for _ in range(rounds):
        floor_seconds = our_seconds = 0.0
        for index, start in enumerate(range(0, messages, chunk)):
            part = slice(start, start + chunk)
            if index % 2:
                our_seconds += our_chunk(verifier, bodies[part])
                floor_seconds += floor_chunk(key, pairs[part])
            else:
                floor_seconds += floor_chunk(key, pairs[part])
                our_seconds += our_chunk(verifier, bodies[part])
        floors.append(messages / floor_seconds)
        ours.append(messages / our_seconds)
        ratios.append(floor_seconds / our_seconds)
    return {
        "ours_per_s": statistics.median(ours),
        "floor_per_s": statistics.median(floors),
        "ratio": statistics.median(ratios),
        "target": 0.75,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = run(args.messages, args.rounds)
    print(
        f"verify: ours {result['ours_per_s']:.0f}/s, bare RSA {result['floor_per_s']:.0f}/s, "
        f"ratio {result['ratio']:.2f} (target >= {result['target']})"
    )


if __name__ == "__main__":
    main()
