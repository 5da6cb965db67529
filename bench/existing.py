"""Line 1 for the existing Python SNS validators on PyPI, measured the same way.

Not part of ``python -m bench``: these packages pin old dependencies (cryptography 2.6,
requests 2.21), so they live in a venv of their own. Each is given a cached certificate (none
of them caches) and SignatureVersion 1 messages (none of them knows version 2); the ratio is
against a bare RSA (SHA1) verify loop in the same process, alternating every 50 messages, as
in ``bench/verify.py``.

    python3 -m venv /tmp/existing && /tmp/existing/bin/pip install validatesns \\
        validate_aws_sns_message sns-message-validator
    .venv/bin/python -m bench.existing write /tmp/existing-data     # signs with our test kit
    /tmp/existing/bin/python bench/existing.py run /tmp/existing-data
    .venv/bin/python -m bench.existing run /tmp/existing-data       # sns-subscriber, same data
"""

# Imports are local: each venv this runs in lacks some of these packages.
# ruff: noqa: PLC0415

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

CHUNK = 50
ROUNDS = 5


def write(directory: Path, count: int = 2000) -> None:
    """Distinct SignatureVersion 1 Budgets alerts and the certificate that signed them."""
    from datetime import UTC, datetime

    from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples

    kit = SNSTestKit()
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    with (directory / "messages.jsonl").open("wb") as out:
        for i in range(count):
            subject, text = samples.budget_alert(
                budget_name=f"team-{i}-prod", amount=f"{90 + i % 10}.{i % 100:02d}"
            )
            fields = kit.notification(
                TEST_TOPIC_ARN, text, subject=subject, timestamp=now, signature_version="1"
            )
            out.write(kit.body(fields).replace(b"\n", b" ") + b"\n")
    kit.write_cert_dir(directory / "certs")


def _signed_text(message: dict[str, Any]) -> bytes:
    keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    return "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()


def _measure(floor: Callable[[slice], None], ours: Callable[[slice], None], count: int) -> float:
    ratios = []
    for _ in range(ROUNDS):
        floor_s = ours_s = 0.0
        for index, start in enumerate(range(0, count, CHUNK)):
            part = slice(start, start + CHUNK)
            order = [(floor, "f"), (ours, "o")] if index % 2 == 0 else [(ours, "o"), (floor, "f")]
            for run, side in order:
                began = time.perf_counter()
                run(part)
                spent = time.perf_counter() - began
                if side == "f":
                    floor_s += spent
                else:
                    ours_s += spent
        ratios.append(floor_s / ours_s)
    return statistics.median(ratios)


def run(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    bodies = (directory / "messages.jsonl").read_bytes().splitlines()
    [cert_file] = (directory / "certs").glob("*.pem")
    pem = cert_file.read_bytes()
    key: Any = x509.load_pem_x509_certificate(pem, default_backend()).public_key()
    pairs = []
    for body in bodies:
        message = json.loads(body)
        pairs.append((base64.b64decode(message["Signature"]), _signed_text(message)))

    def floor(part: slice) -> None:
        pkcs1, sha1 = padding.PKCS1v15(), hashes.SHA1()
        for signature, data in pairs[part]:
            key.verify(signature, data, pkcs1, sha1)

    candidates: dict[str, Callable[[slice], None]] = {}
    try:
        import validatesns  # type: ignore[import-not-found]

        def with_validatesns(part: slice) -> None:
            for body in bodies[part]:
                validatesns.validate(
                    json.loads(body), get_certificate=lambda _url: pem, max_age=timedelta(days=1)
                )

        candidates["validatesns"] = with_validatesns
    except Exception as exc:
        print(f"validatesns: not measured ({type(exc).__name__}: {exc})")
    try:
        import validate_aws_sns_message  # type: ignore[import-not-found]

        def with_validate_aws(part: slice) -> None:
            for body in bodies[part]:
                validate_aws_sns_message.validate(
                    json.loads(body), get_certificate=lambda _url: pem, max_age=timedelta(days=1)
                )

        candidates["validate_aws_sns_message"] = with_validate_aws
    except Exception as exc:
        print(f"validate_aws_sns_message: not measured ({type(exc).__name__}: {exc})")
    try:
        import requests  # type: ignore[import-untyped]
        import sns_message_validator  # type: ignore[import-not-found]

        class _Cached:
            content = pem

        requests.get = lambda *_args, **_kwargs: _Cached()  # it fetches on every message
        validator = sns_message_validator.SNSMessageValidator()

        def with_sns_message_validator(part: slice) -> None:
            for body in bodies[part]:
                validator.validate_message(json.loads(body))

        candidates["sns-message-validator"] = with_sns_message_validator
    except ImportError:
        pass
    try:
        from sns_subscriber import parse
        from sns_subscriber.testing import TEST_TOPIC_ARN
        from sns_subscriber.verification import VerificationPolicy, Verifier

        verifier = Verifier(
            VerificationPolicy(allowed_topic_arns=(TEST_TOPIC_ARN,), max_age=timedelta(days=1)),
            cert_dir=directory / "certs",
            fetch=False,
        )

        def with_sns_subscriber(part: slice) -> None:
            for body in bodies[part]:
                verifier.verify(parse(body))

        candidates["sns-subscriber"] = with_sns_subscriber
    except ImportError:
        pass
    for name, candidate in candidates.items():
        candidate(slice(0, 2))  # fail loudly before timing if it rejects our messages
        print(f"{name}: ratio {_measure(floor, candidate, len(bodies)):.2f} (bare RSA SHA1 = 1)")


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "write":
        write(folder)
    else:
        run(folder)
