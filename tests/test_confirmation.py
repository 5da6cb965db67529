"""Confirming subscriptions: a local HTTPS stand-in for the SNS host, moto for the API, and
every SSRF attempt refused before anything is fetched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.confirmation import (
    ApiConfirmer,
    AutoConfirmer,
    ManualConfirmer,
    UrlConfirmer,
    check_subscribe_url,
    make_confirmer,
)
from sns_subscriber.exceptions import ConfigurationError, ConfirmationError, UntrustedSubscribeURLError
from sns_subscriber.messages import SubscriptionConfirmation
from sns_subscriber.parsing import parse
from sns_subscriber.stores import InboxStore, SubscriptionState
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.https_server import LocalServer, Route, default_test_ca, serve_https
from .support.pipeline import TWINS, Twin, make_subscriber, post, sqlite_store

SNS_HOST = "sns.us-east-1.amazonaws.com"
ANSWER = (
    b'<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult>'
    b"<SubscriptionArn>arn:aws:sns:us-east-1:123456789012:sns-subscriber-test:1234</SubscriptionArn>"
    b"</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
)


@pytest.fixture
def sns_host() -> Iterator[LocalServer]:
    """HTTPS on 127.0.0.1 with a certificate for the real SNS host name (from a test CA)."""
    with serve_https({"/": Route(200, {"Content-Type": "text/xml"}, ANSWER)}, names=(SNS_HOST,)) as server:
        yield server


def url_confirmer(server: LocalServer) -> UrlConfirmer:
    return UrlConfirmer(ssl_context=default_test_ca().client_context(), connect_to=("127.0.0.1", server.port))


def confirmation(kit: SNSTestKit, **changes: Any) -> SubscriptionConfirmation:
    fields = kit.subscription_confirmation(TEST_TOPIC_ARN, token="ab" * 64)
    fields.update(changes)
    message = parse(kit.body(fields))
    assert isinstance(message, SubscriptionConfirmation)
    return message


def test_url_mode_confirms_through_the_sns_host(sns_kit: SNSTestKit, sns_host: LocalServer) -> None:
    result = url_confirmer(sns_host).confirm(confirmation(sns_kit))
    assert (result.confirmed, result.method) == (True, "url")
    assert result.subscription_arn == "arn:aws:sns:us-east-1:123456789012:sns-subscriber-test:1234"
    [request] = sns_host.requests
    assert request.target == f"/?Action=ConfirmSubscription&TopicArn={TEST_TOPIC_ARN}&Token={'ab' * 64}"
    assert request.headers["host"] == SNS_HOST


def test_end_to_end_subscription_confirmed_and_recorded(
    sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    store: InboxStore = sqlite_store(tmp_path)
    try:
        subscriber = make_subscriber(sns_kit, store, tmp_path, confirmer=url_confirmer(sns_host))
        outcome = subscriber.handle(post(sns_kit.subscription_confirmation(TEST_TOPIC_ARN)))
        assert (outcome.status, outcome.result) == (200, "confirmed")
        [event] = store.list_subscriptions()
        assert (event.state, event.subscription_arn) == (
            SubscriptionState.CONFIRMED,
            "arn:aws:sns:us-east-1:123456789012:sns-subscriber-test:1234",
        )
    finally:
        store.close()


@pytest.mark.parametrize("kind", TWINS)
def test_replayed_confirmation_makes_one_outbound_call(
    kind: str, sns_kit: SNSTestKit, sns_host: LocalServer, tmp_path: Path
) -> None:
    """Attack: a captured SubscriptionConfirmation (valid for days) replayed N times. It once
    added N rows and made N outbound confirmations; now one row and one call to the SNS host,
    on both twins, and a later confirmation of the same (confirmed) subscription calls out
    to nobody."""
    store: InboxStore = sqlite_store(tmp_path)
    twin = Twin(kind, sns_kit, store, tmp_path, confirmer=url_confirmer(sns_host))
    try:
        captured = sns_kit.subscription_confirmation(TEST_TOPIC_ARN)
        assert twin.handle(post(captured)).result == "confirmed"
        for _ in range(10):
            assert twin.handle(post(captured)).result == "duplicate"
        assert len(sns_host.requests) == 1
        assert len(store.list_subscriptions()) == 1
        fresh = sns_kit.subscription_confirmation(TEST_TOPIC_ARN)
        assert twin.handle(post(fresh)).result == "pending"
        assert len(sns_host.requests) == 1
    finally:
        twin.close()
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            "https://evil.example.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            id="other-host",
        ),
        pytest.param("https://169.254.169.254/latest/meta-data/", id="metadata"),
        pytest.param(
            "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            id="other-region",
        ),
        pytest.param(
            "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            id="http",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com:8443/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            id="port",
        ),
        pytest.param(
            "https://user@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            id="userinfo",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:x",
            id="other-action",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:999999999999:evil&Token={token}",
            id="other-topic",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=other",
            id="other-token",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}&Extra=1",
            id="extra-param",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Action=GetEndpointAttributes&TopicArn={topic}&Token={token}",
            id="repeated-action",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com/redirect?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            id="path",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}#x",
            id="fragment",
        ),
        pytest.param(
            "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            id="suffix-host",
        ),
    ],
)
def test_ssrf_attempts_are_refused_and_nothing_is_fetched(
    sns_kit: SNSTestKit, sns_host: LocalServer, url: str
) -> None:
    """Attack: a SubscribeURL pointing anywhere but this topic's own confirmation (SSRF,
    CVE-2019-6715, CVE-2026-32096). The kit signs it, so only our URL check stands between."""
    message = confirmation(sns_kit, SubscribeURL=url.format(topic=TEST_TOPIC_ARN, token="ab" * 64))
    with pytest.raises(UntrustedSubscribeURLError):
        url_confirmer(sns_host).confirm(message)
    assert sns_host.requests == []


def test_redirect_from_the_sns_host_is_not_followed(sns_kit: SNSTestKit) -> None:
    routes = {
        "/": Route(302, {"Location": "https://127.0.0.1/elsewhere"}),
        "/elsewhere": Route(200, {}, ANSWER),
    }
    with serve_https(routes, names=(SNS_HOST,)) as server:
        with pytest.raises(ConfirmationError, match="HTTP 302"):
            url_confirmer(server).confirm(confirmation(sns_kit))
        assert [r.path for r in server.requests] == ["/"]


def test_sns_host_down_is_a_temporary_failure(sns_kit: SNSTestKit) -> None:
    confirmer = UrlConfirmer(
        ssl_context=default_test_ca().client_context(), connect_to=("127.0.0.1", 1), timeout=2
    )
    with pytest.raises(ConfirmationError):
        confirmer.confirm(confirmation(sns_kit))


def test_untrusted_tls_is_refused(sns_kit: SNSTestKit, sns_host: LocalServer) -> None:
    """Default trust store: the test CA is not trusted, so the stand-in is not SNS."""
    with pytest.raises(ConfirmationError):
        UrlConfirmer(connect_to=("127.0.0.1", sns_host.port)).confirm(confirmation(sns_kit))


def test_api_mode_against_moto(mocked_aws: None, sns_kit: SNSTestKit) -> None:
    import boto3

    calls: list[dict[str, Any]] = []

    def factory(region: str) -> Any:
        client = boto3.client("sns", region_name=region)
        client.meta.events.register(
            "provide-client-params.sns.ConfirmSubscription", lambda params, **_: calls.append(params)
        )
        return client

    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="sns-subscriber-test")["TopicArn"]
    assert topic == TEST_TOPIC_ARN
    result = ApiConfirmer(client_factory=factory).confirm(confirmation(sns_kit))
    assert (result.confirmed, result.method) == (True, "api")
    assert result.subscription_arn is not None
    assert result.subscription_arn.startswith(TEST_TOPIC_ARN + ":")
    assert calls == [{"TopicArn": TEST_TOPIC_ARN, "Token": "ab" * 64, "AuthenticateOnUnsubscribe": "true"}]


def test_api_mode_uses_the_topics_own_region(mocked_aws: None, sns_kit: SNSTestKit, tmp_path: Path) -> None:
    regions: list[str] = []

    class Client:
        def confirm_subscription(self, **params: str) -> dict[str, str]:
            return {"SubscriptionArn": params["TopicArn"] + ":x"}

    def factory(region: str) -> Client:
        regions.append(region)
        return Client()

    topic = "arn:aws:sns:eu-central-1:123456789012:t"
    fields = sns_kit.subscription_confirmation(topic)
    message = parse(sns_kit.body(fields))
    assert isinstance(message, SubscriptionConfirmation)
    ApiConfirmer(client_factory=factory).confirm(message)
    assert regions == ["eu-central-1"]


def test_api_failure_is_temporary(mocked_aws: None, sns_kit: SNSTestKit) -> None:
    # The topic does not exist in moto: the API answers NotFound.
    with pytest.raises(ConfirmationError, match="ConfirmSubscription failed"):
        ApiConfirmer().confirm(confirmation(sns_kit))


def test_auto_mode_picks_api_with_credentials(mocked_aws: None) -> None:
    assert AutoConfirmer().use_api is True


def test_auto_mode_falls_back_to_url_without_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert AutoConfirmer().use_api is False


def test_manual_mode_checks_but_does_not_confirm(sns_kit: SNSTestKit) -> None:
    assert ManualConfirmer().confirm(confirmation(sns_kit)).confirmed is False
    with pytest.raises(UntrustedSubscribeURLError):
        ManualConfirmer().confirm(confirmation(sns_kit, SubscribeURL="https://evil.example.com/"))


def test_check_subscribe_url_accepts_china_partition(sns_kit: SNSTestKit) -> None:
    topic = "arn:aws-cn:sns:cn-north-1:123456789012:t"
    message = parse(sns_kit.body(sns_kit.subscription_confirmation(topic, token="cd" * 64)))
    assert isinstance(message, SubscriptionConfirmation)
    assert check_subscribe_url(message).startswith(
        "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription"
    )


def test_unknown_mode_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="confirm must be one of"):
        make_confirmer("sometimes")
