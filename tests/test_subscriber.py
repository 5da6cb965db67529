"""Subscriber.handle: every documented status, and nothing stored for what is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.confirmation import ConfirmResult
from sns_subscriber.exceptions import ConfirmationError, StoreUnavailableError
from sns_subscriber.messages import SubscriptionConfirmation
from sns_subscriber.stores import InboxStatus, InboxStore, SubscriptionState
from sns_subscriber.subscriber import BasicAuth
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.pipeline import make_subscriber, post, sqlite_store, store_is_empty


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    store = sqlite_store(tmp_path)
    yield store
    store.close()


def test_notification_is_stored_before_200(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    subscriber = make_subscriber(sns_kit, store, tmp_path)
    fields = sns_kit.notification(TEST_TOPIC_ARN, "hello", subject="s")
    outcome = subscriber.handle(post(fields))
    assert (outcome.status, outcome.result, outcome.message_id) == (200, "accepted", fields["MessageId"])
    record = store.get(fields["MessageId"])
    assert record is not None
    assert record.status == InboxStatus.RECEIVED
    assert record.body == SNSTestKit.body(fields)
    assert (record.endpoint, record.topic_arn, record.subject) == ("/sns", TEST_TOPIC_ARN, "s")
    assert json.loads(outcome.body) == {"result": "accepted", "message_id": fields["MessageId"]}


def test_redelivery_is_200_and_stored_once(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    subscriber = make_subscriber(sns_kit, store, tmp_path)
    fields = sns_kit.notification()
    assert subscriber.handle(post(fields)).result == "accepted"
    for _ in range(3):
        again = subscriber.handle(post(fields))
        assert (again.status, again.result) == (200, "duplicate")
    assert store.counts()[InboxStatus.RECEIVED] == 1


def _forged(kit: SNSTestKit) -> dict[str, Any]:
    fields = kit.notification()
    fields["Message"] = "forged"
    return fields


def _field(kit: SNSTestKit, **changes: Any) -> dict[str, Any]:
    return kit.notification() | changes


BAD_REQUESTS: list[Any] = [
    pytest.param(lambda k: ({}, {"body": b"not json"}), 400, "malformed", id="not-json"),
    pytest.param(lambda k: ({}, {"body": b"\xff\xfe"}), 400, "malformed", id="not-utf8"),
    pytest.param(lambda k: ({}, {"body": b"[1, 2]"}), 400, "malformed", id="array"),
    pytest.param(lambda k: (_field(k, Message=5), {}), 400, "malformed", id="wrong-type"),
    pytest.param(
        lambda k: ({kk: v for kk, v in k.notification().items() if kk != "Signature"}, {}),
        400,
        "malformed",
        id="missing-field",
    ),
    pytest.param(
        lambda k: (k.notification(), {"headers": {"x-amz-sns-message-id": "other"}}),
        400,
        "malformed",
        id="header-mismatch",
    ),
    pytest.param(lambda k: (_field(k, Type="Publish"), {}), 400, "unsupported", id="unknown-type"),
    pytest.param(lambda k: (_field(k, SignatureVersion="3"), {}), 400, "unsupported", id="unknown-version"),
    pytest.param(
        lambda k: (k.notification(), {"headers": {"x-amz-sns-rawdelivery": "true"}, "body": b"raw"}),
        400,
        "unsupported",
        id="raw-without-auth",
    ),
    pytest.param(lambda k: (k.notification(message="x" * 1_100_000), {}), 413, "too_large", id="oversized"),
    pytest.param(lambda k: (k.notification(), {"method": "GET"}), 405, "method_not_allowed", id="get"),
    pytest.param(lambda k: (_forged(k), {}), 403, "invalid_signature", id="forged"),
    pytest.param(
        lambda k: (k.notification("arn:aws:sns:us-east-1:999999999999:evil"), {}),
        403,
        "topic_not_allowed",
        id="foreign-topic",
    ),
    pytest.param(
        lambda k: (k.notification(timestamp=datetime.now(UTC) - timedelta(hours=3)), {}),
        403,
        "message_expired",
        id="stale",
    ),
    pytest.param(
        lambda k: (
            _field(
                k,
                SigningCertURL="https://s3.amazonaws.com/b/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem",
            ),
            {},
        ),
        403,
        "untrusted_certificate_url",
        id="s3-cert",
    ),
]


@pytest.mark.parametrize(("build", "status", "result"), BAD_REQUESTS)
def test_bad_input_gets_its_status_and_leaves_the_store_unchanged(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path, build: Any, status: int, result: str
) -> None:
    subscriber = make_subscriber(sns_kit, store, tmp_path)
    fields, extra = build(sns_kit)
    outcome = subscriber.handle(post(fields, **extra))
    assert (outcome.status, outcome.result) == (status, result)
    body = outcome.body.decode()
    assert "Traceback" not in body
    assert "Signature" not in body or result != "invalid_signature"
    assert store_is_empty(store)
    if status == 405:
        assert outcome.headers["allow"] == "POST"


def test_response_never_echoes_unsigned_values(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    secret_looking = "https://evil.example.com/?token=SECRET123"
    outcome = make_subscriber(sns_kit, store, tmp_path).handle(
        post(_field(sns_kit, SigningCertURL=secret_looking))
    )
    assert outcome.status == 403
    assert b"SECRET123" not in outcome.body


class RecordingConfirmer:
    def __init__(self, result: ConfirmResult | Exception) -> None:
        self.result = result
        self.calls: list[SubscriptionConfirmation] = []

    def confirm(self, message: SubscriptionConfirmation) -> ConfirmResult:
        self.calls.append(message)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_subscription_confirmation_confirmed_and_recorded(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    confirmer = RecordingConfirmer(ConfirmResult(True, f"{TEST_TOPIC_ARN}:abc", "url"))
    subscriber = make_subscriber(sns_kit, store, tmp_path, confirmer=confirmer)
    fields = sns_kit.subscription_confirmation()
    outcome = subscriber.handle(post(fields))
    assert (outcome.status, outcome.result) == (200, "confirmed")
    assert len(confirmer.calls) == 1
    [event] = store.list_subscriptions()
    assert (event.state, event.subscription_arn, event.topic_arn) == (
        SubscriptionState.CONFIRMED,
        f"{TEST_TOPIC_ARN}:abc",
        TEST_TOPIC_ARN,
    )
    assert sum(store.counts().values()) == 0  # confirmations are not inbox messages


def test_foreign_topic_is_never_confirmed(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    confirmer = RecordingConfirmer(ConfirmResult(True, "x", "url"))
    subscriber = make_subscriber(sns_kit, store, tmp_path, confirmer=confirmer)
    outcome = subscriber.handle(
        post(sns_kit.subscription_confirmation("arn:aws:sns:us-east-1:999999999999:evil"))
    )
    assert outcome.status == 403
    assert confirmer.calls == []
    assert store_is_empty(store)


def test_temporary_confirmation_failure_is_503_and_recorded(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    confirmer = RecordingConfirmer(ConfirmationError("SNS unreachable"))
    outcome = make_subscriber(sns_kit, store, tmp_path, confirmer=confirmer).handle(
        post(sns_kit.subscription_confirmation())
    )
    assert (outcome.status, outcome.result) == (503, "confirmation_failed")
    assert outcome.headers["retry-after"] == "20"
    [event] = store.list_subscriptions()
    assert event.state == SubscriptionState.FAILED


def test_manual_mode_records_pending(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    outcome = make_subscriber(sns_kit, store, tmp_path).handle(
        post(sns_kit.subscription_confirmation(token="ab" * 64))
    )
    assert (outcome.status, outcome.result) == (200, "pending")
    [event] = store.list_subscriptions()
    assert (event.state, event.token) == (SubscriptionState.PENDING, "ab" * 64)


def test_unsubscribe_is_recorded_and_never_resubscribes(
    sns_kit: SNSTestKit,
    store: InboxStore,
    tmp_path: Path,
    no_network: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    confirmer = RecordingConfirmer(ConfirmResult(True, "x", "url"))
    outcome = make_subscriber(sns_kit, store, tmp_path, confirmer=confirmer).handle(
        post(sns_kit.unsubscribe_confirmation())
    )
    assert (outcome.status, outcome.result) == (200, "unsubscribed")
    assert confirmer.calls == []
    assert no_network == []
    [event] = store.list_subscriptions()
    assert event.state == SubscriptionState.UNSUBSCRIBED
    assert any(r.levelname == "WARNING" and "unsubscribed" in r.getMessage() for r in caplog.records)


def _auth(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_password_is_not_in_its_repr() -> None:
    """A BasicAuth logged or printed (a debug line, a traceback's locals) hides its password."""
    auth = BasicAuth("sns", "S3CRET-PW")
    assert "S3CRET-PW" not in repr(auth) and "S3CRET-PW" not in str(auth)
    assert auth.check(_auth("sns", "S3CRET-PW")["authorization"])


def test_basic_auth_challenges_first(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    subscriber = make_subscriber(sns_kit, store, tmp_path, basic_auth=BasicAuth("sns", "s3cret"))
    fields = sns_kit.notification()
    challenge = subscriber.handle(post(fields))
    assert challenge.status == 401
    assert challenge.headers["www-authenticate"].startswith('Basic realm="sns-subscriber"')
    assert subscriber.handle(post(fields, headers=_auth("sns", "wrong"))).status == 401
    assert subscriber.handle(post(fields, headers={"authorization": "Basic !!!"})).status == 401
    assert store_is_empty(store)
    assert subscriber.handle(post(fields, headers=_auth("sns", "s3cret"))).result == "accepted"


def test_raw_delivery_with_basic_auth(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    subscriber = make_subscriber(
        sns_kit, store, tmp_path, basic_auth=BasicAuth("sns", "s3cret"), allow_raw_delivery=True
    )
    headers = {"x-amz-sns-rawdelivery": "true", "x-amz-sns-message-id": "raw-1", "x-amz-sns-topic-arn": TEST_TOPIC_ARN,
               "x-amz-sns-message-type": "Notification"} | _auth("sns", "s3cret")  # fmt: skip
    outcome = subscriber.handle(post({}, headers=headers, body=b"This is a test message."))
    assert (outcome.status, outcome.result) == (200, "accepted")
    record = store.get("raw-1")
    assert record is not None
    assert (record.raw_delivery, record.body) == (True, b"This is a test message.")
    foreign = headers | {
        "x-amz-sns-message-id": "raw-2",
        "x-amz-sns-topic-arn": "arn:aws:sns:us-east-1:999999999999:x",
    }
    assert subscriber.handle(post({}, headers=foreign, body=b"x")).status == 403
    assert store.get("raw-2") is None


def test_raw_delivery_requires_basic_auth_at_configuration(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    from sns_subscriber.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="basic_auth"):
        make_subscriber(sns_kit, store, tmp_path, allow_raw_delivery=True)


class DownStore:
    """A store whose database is gone: every write fails as an outage."""

    def __init__(self, real: InboxStore) -> None:
        self.real = real

    def add(self, item: object) -> bool:
        raise StoreUnavailableError("database is down")

    def record_subscription(self, event: object) -> object:
        raise StoreUnavailableError("database is down")


def test_store_outage_is_503(sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path) -> None:
    subscriber = make_subscriber(sns_kit, DownStore(store), tmp_path)  # type: ignore[arg-type]
    outcome = subscriber.handle(post(sns_kit.notification()))
    assert (outcome.status, outcome.result) == (503, "store_unavailable")


def test_unexpected_bug_is_500_without_details(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    class Broken:
        def add(self, item: object) -> bool:
            raise ZeroDivisionError("secret internals")

    outcome = make_subscriber(sns_kit, Broken(), tmp_path).handle(post(sns_kit.notification()))  # type: ignore[arg-type]
    assert (outcome.status, outcome.result) == (500, "internal_error")
    assert b"secret" not in outcome.body


def test_inline_worker_runs_handlers_before_answering(
    sns_kit: SNSTestKit, store: InboxStore, tmp_path: Path
) -> None:
    from sns_subscriber.routing import Router
    from sns_subscriber.worker import Worker

    seen: list[str] = []
    router = Router()
    router.add(lambda d: seen.append(d.message.message), name="collect")
    subscriber = make_subscriber(sns_kit, store, tmp_path, worker=Worker(store, router))
    fields = sns_kit.notification(message="inline!")
    assert subscriber.handle(post(fields)).result == "accepted"
    assert seen == ["inline!"]
    record = store.get(fields["MessageId"])
    assert record is not None
    assert record.status == InboxStatus.DONE
