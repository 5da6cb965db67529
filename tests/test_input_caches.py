"""Caches keyed on unauthenticated input must not let a stranger pin memory.

Issue 10, finding 4: ``TopicArn.parse`` (``lru_cache(512)``) and the certificate-URL decision
(``lru_cache(1024)``) were keyed on the raw values of the body, before any check: 150 junk
bodies with a near-megabyte TopicArn or SigningCertURL pinned about 140 MB for good. Now values
are length- and shape-checked before any cache, and only valid ones are cached.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber import RejectedMessageError, parse
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.pipeline import make_subscriber, post, sqlite_store

JUNK_BODIES = 150
FIELD_SIZE = 900_000  # each body stays under the 1 MiB cap


def junk_fields(kit: SNSTestKit, number: int) -> dict[str, Any]:
    """Half the bodies carry a huge junk TopicArn, half a huge junk SigningCertURL (with the
    allowed topic, so they get as far as the certificate-URL check); all distinct."""
    fields = kit.notification(TEST_TOPIC_ARN, "junk")
    filler = f"{number:06d}" + "x" * FIELD_SIZE
    if number % 2:
        fields["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:" + filler
    else:
        fields["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com/" + filler
    return fields


def test_attack_junk_topic_arns_and_cert_urls_do_not_pin_memory(sns_kit: SNSTestKit, tmp_path: Path) -> None:
    """150 junk bodies through the pipeline (parse, verify): all refused, and the memory they
    leave allocated afterwards is a small fraction of one body, not ~140 MB."""
    store = sqlite_store(tmp_path)
    subscriber = make_subscriber(sns_kit, store, tmp_path)
    bodies = [json.dumps(junk_fields(sns_kit, n)).encode() for n in range(2)]  # warm-up: imports, lazy state
    for body in bodies:
        subscriber.handle(post({}, body=body))
    try:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        statuses = set()
        for number in range(2, JUNK_BODIES + 2):
            body = json.dumps(junk_fields(sns_kit, number)).encode()
            statuses.add(subscriber.handle(post({}, body=body)).status)
            del body
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        store.close()
    assert statuses <= {400, 403}
    assert retained < FIELD_SIZE // 2, f"{retained} bytes retained after {JUNK_BODIES} junk bodies"


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sns:us-east-1:123456789012:" + "a" * 257,
        "arn:aws:sns:us-east-1:123456789012:" + "a" * 500,
        "arn:aws:sns:" + "us-" * 200 + "east-1:123456789012:t",
    ],
)
def test_overlong_topic_arn_is_malformed(sns_kit: SNSTestKit, arn: str) -> None:
    fields = sns_kit.notification(TEST_TOPIC_ARN, "m")
    fields["TopicArn"] = arn
    with pytest.raises(RejectedMessageError, match="TopicArn"):
        parse(json.dumps(fields))


def test_longest_valid_topic_arn_still_parses(sns_kit: SNSTestKit) -> None:
    """A 256-character topic name (the SNS maximum, FIFO suffix included) is accepted."""
    arn = "arn:aws-us-gov:sns:us-gov-west-1:123456789012:" + "n" * 251 + ".fifo"
    fields = sns_kit.notification(arn, "m")
    message = parse(json.dumps(fields))
    assert message.topic is not None
    assert message.topic.name == "n" * 251 + ".fifo"
