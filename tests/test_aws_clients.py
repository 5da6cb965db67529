"""The AWS target: every client the project builds goes where the configuration says, and in
LocalStack mode never to real AWS (the two LocalStack bugs of the confirmation modes)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner

from sns_subscriber.aws.clients import AwsClients
from sns_subscriber.cli.app import cli
from sns_subscriber.confirmation import ApiConfirmer, AutoConfirmer, ManualConfirmer
from sns_subscriber.messages import SubscriptionConfirmation
from sns_subscriber.parsing import parse
from sns_subscriber.service.aws import aws_clients
from sns_subscriber.service.config import load_config
from sns_subscriber.service.runtime import build_runtime, open_configured_store
from sns_subscriber.stores import SubscriptionEvent, SubscriptionState
from sns_subscriber.testing import SNSTestKit
from sns_subscriber.verification import InsecurePolicyWarning

from .support.https_server import Request, Route, serve_http

TOPIC = "arn:aws:sns:us-east-1:000000000000:budget-alerts"
SUBSCRIPTION_ARN = f"{TOPIC}:7f1c2e3d-0000-4000-8000-000000000001"
CONFIRM_ANSWER = (
    b'<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult>'
    b"<SubscriptionArn>" + SUBSCRIPTION_ARN.encode() + b"</SubscriptionArn>"
    b"</ConfirmSubscriptionResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
    b"</ConfirmSubscriptionResponse>"
)


@pytest.fixture(autouse=True)
def real_looking_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual developer machine: credentials of a real account in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALACCOUNTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-session-token")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def fake_localstack() -> Any:
    """A stand-in for LocalStack's SNS API and SubscribeURL on 127.0.0.1 (plain HTTP)."""
    return serve_http({"/": Route(200, {"Content-Type": "text/xml"}, CONFIRM_ANSWER)})


def localstack_config(tmp_path: Path, host: str, confirm: str) -> Any:
    return load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "localstack": {"enabled": True, "host": host},
            "endpoints": [{"path": "/sns", "topics": [TOPIC], "confirm": confirm}],
        }
    )


def confirmation(kit: SNSTestKit, host: str) -> SubscriptionConfirmation:
    fields = kit.subscription_confirmation(TOPIC, token="cd" * 64)
    fields["SubscribeURL"] = f"http://{host}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={'cd' * 64}"
    message = parse(kit.body(fields))
    assert isinstance(message, SubscriptionConfirmation)
    return message


def form(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.body.decode() or request.target.partition("?")[2])


def test_clients_get_the_configured_endpoint_and_region() -> None:
    config = load_config(data={"aws": {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9"}})
    clients = aws_clients(config)
    assert (clients.region, clients.endpoint_url, clients.local) == ("eu-west-1", "http://127.0.0.1:9", False)
    for client in (clients.sns(), clients.sqs(), clients.sts()):
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        assert client.meta.region_name == "eu-west-1"
    assert clients.sns("ap-south-1").meta.region_name == "ap-south-1"
    assert clients.budgets().meta.region_name == "us-east-1"


def test_localstack_mode_clients_never_use_the_environments_credentials() -> None:
    """Credentials of a real account in the environment must reach neither real AWS (no
    endpoint) nor the emulator: LocalStack mode pins its endpoint and dummy credentials."""
    config = load_config(data={"localstack": {"enabled": True, "host": "127.0.0.1:4566"}})
    clients = aws_clients(config)
    assert clients.local
    for client in (clients.sns("eu-central-1"), clients.sqs(), clients.budgets(), clients.sts()):
        assert client.meta.endpoint_url == "http://127.0.0.1:4566"
        credentials = client._request_signer._credentials
        assert (credentials.access_key, credentials.secret_key, credentials.token) == ("test", "test", None)


def test_without_localstack_clients_use_the_default_chain() -> None:
    clients = AwsClients()
    client = clients.sns()
    assert client.meta.endpoint_url == "https://sns.us-east-1.amazonaws.com"
    assert client._request_signer._credentials.access_key == "AKIAREALACCOUNTKEY00"


@pytest.mark.parametrize("mode", ["auto", "api"])
def test_api_confirmation_in_localstack_mode_goes_to_localstack_not_real_sns(
    sns_kit: SNSTestKit, tmp_path: Path, mode: str
) -> None:
    """Bug: with credentials in the environment, confirm = "auto" called the real
    sns.us-east-1.amazonaws.com (the subscription stayed pending) and "api" could not target
    LocalStack at all."""
    with fake_localstack() as server:
        host = f"127.0.0.1:{server.port}"
        with pytest.warns(InsecurePolicyWarning):
            runtime = build_runtime(localstack_config(tmp_path, host, mode))
        try:
            confirmer = runtime.subscribers["/sns"].confirmer
            if mode == "auto":
                assert isinstance(confirmer, AutoConfirmer)
                assert confirmer.use_api
            result = confirmer.confirm(confirmation(sns_kit, host))
        finally:
            runtime.close()
        [request] = server.requests
    assert (result.confirmed, result.method, result.subscription_arn) == (True, "api", SUBSCRIPTION_ARN)
    assert request.method == "POST"
    fields = form(request)
    assert fields["Action"] == ["ConfirmSubscription"]
    assert fields["AuthenticateOnUnsubscribe"] == ["true"]
    assert "Credential=test/" in request.headers["authorization"]
    assert "x-amz-security-token" not in request.headers


def test_manual_mode_with_localstack_records_the_subscription_as_pending(
    sns_kit: SNSTestKit, tmp_path: Path
) -> None:
    """Bug: make_confirmer dropped the trusted hosts for manual mode, so LocalStack's
    SubscribeURL was refused (403) and nothing could ever confirm the subscription."""
    host = "127.0.0.1:4566"
    with pytest.warns(InsecurePolicyWarning):
        runtime = build_runtime(localstack_config(tmp_path, host, "manual"))
    try:
        confirmer = runtime.subscribers["/sns"].confirmer
        assert isinstance(confirmer, ManualConfirmer)
        result = confirmer.confirm(confirmation(sns_kit, host))
        assert (result.confirmed, result.method) == (False, "manual")
    finally:
        runtime.close()


def test_manual_mode_still_refuses_other_hosts(sns_kit: SNSTestKit) -> None:
    from sns_subscriber.exceptions import UntrustedSubscribeURLError

    confirmer = ManualConfirmer(trusted_hosts=frozenset({"127.0.0.1:4566"}))
    with pytest.raises(UntrustedSubscribeURLError):
        confirmer.confirm(confirmation(sns_kit, "127.0.0.1:4567"))


@pytest.mark.parametrize("mode", ["url", "api"])
def test_subscriptions_confirm_command_reaches_localstack(tmp_path: Path, mode: str) -> None:
    """Bug: `subscriptions confirm` built its confirmer without the LocalStack host and
    refused LocalStack's SubscribeURL (url) or called real AWS (api)."""
    with fake_localstack() as server:
        host = f"127.0.0.1:{server.port}"
        config_file = tmp_path / "sns-subscriber.toml"
        config_file.write_text(
            f'[store]\nurl = "sqlite:///inbox.db"\n[localstack]\nenabled = true\nhost = "{host}"\n'
            f'[[endpoints]]\npath = "/sns"\ntopics = ["{TOPIC}"]\nconfirm = "manual"\n'
        )
        store = open_configured_store(load_config(config_file))
        try:
            pending = store.record_subscription(
                SubscriptionEvent(
                    topic_arn=TOPIC,
                    endpoint="/sns",
                    state=SubscriptionState.PENDING,
                    message_id="m-1",
                    token="cd" * 64,
                    subscribe_url=f"http://{host}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={'cd' * 64}",
                )
            )
        finally:
            store.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecurePolicyWarning)
            result = CliRunner().invoke(
                cli,
                ["subscriptions", "confirm", "--config", str(config_file), "--mode", mode, str(pending.id)],
            )
        assert result.exit_code == 0, result.output
        assert f"confirmed {TOPIC}" in result.output
        [request] = server.requests
    assert form(request)["Action"] == ["ConfirmSubscription"]
    assert form(request)["Token"] == ["cd" * 64]


def test_api_confirmer_uses_the_given_client_factory() -> None:
    regions: list[str] = []

    class Client:
        def confirm_subscription(self, **kwargs: str) -> dict[str, str]:
            return {"SubscriptionArn": SUBSCRIPTION_ARN}

    def factory(region: str) -> Client:
        regions.append(region)
        return Client()

    kit = SNSTestKit()
    message = confirmation(kit, "127.0.0.1:1")
    assert ApiConfirmer(client_factory=factory).confirm(message).subscription_arn == SUBSCRIPTION_ARN
    assert regions == ["us-east-1"]
