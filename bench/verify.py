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

from sns_subscriber import parse
from sns_subscriber.signing import decode_signature, string_to_sign
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples


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


def floor_loop(kit: SNSTestKit, bodies: list[bytes]) -> float:
    """The floor: only RSA verification of precomputed (signature, data) pairs."""
    key = kit.certificate.public_key()
    pairs = []
    for body in bodies:
        message = parse(body)
        pairs.append((decode_signature(message.signature), string_to_sign(message)))
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    start = time.perf_counter()
    for signature, data in pairs:
        key.verify(signature, data, pkcs1, sha256)  # type: ignore[union-attr]
    return len(pairs) / (time.perf_counter() - start)


def our_loop(kit: SNSTestKit, bodies: list[bytes]) -> float:
    verifier = kit.verifier([TEST_TOPIC_ARN])
    verifier.verify(parse(bodies[0]))  # warm the certificate cache
    start = time.perf_counter()
    for body in bodies:
        verifier.verify(parse(body))
    return len(bodies) / (time.perf_counter() - start)


def run(messages: int = 2000, rounds: int = 5) -> dict[str, float]:
    kit = SNSTestKit()
    bodies = build(kit, messages)
    ratios, ours, floors = [], [], []
    for _ in range(rounds):  # interleaved, so load changes hit both sides alike
        floor = floor_loop(kit, bodies)
        mine = our_loop(kit, bodies)
        floors.append(floor)
        ours.append(mine)
        ratios.append(mine / floor)
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
