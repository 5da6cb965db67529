"""The AWS target the configuration describes: ``[aws]`` and ``[localstack]``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ..aws.clients import LOCALSTACK_CREDENTIALS, AwsClients
from ..aws.subscriptions import Target
from ..confirmation import Confirmer, make_confirmer
from ..exceptions import ConfigurationError
from .config import Config

__all__ = ["aws_clients", "configured_confirmer", "localstack_hosts", "subscription_targets"]


def aws_clients(config: Config) -> AwsClients:
    """With ``[localstack] enabled`` every client goes to the LocalStack host with dummy
    credentials, whatever the environment holds: never to real AWS."""
    region: str = config.get("aws.region")
    if config.get("localstack.enabled"):
        endpoint = config.get("aws.endpoint_url")
        if endpoint:
            return AwsClients(region, endpoint, LOCALSTACK_CREDENTIALS)
        return AwsClients.localstack(config.get("localstack.host"), region=region)
    return AwsClients(region, config.get("aws.endpoint_url"))


def localstack_hosts(config: Config) -> frozenset[str]:
    """The host[:port] values trusted in SubscribeURL and SigningCertURL (LocalStack mode)."""
    return frozenset({config.get("localstack.host")}) if config.get("localstack.enabled") else frozenset()


def configured_confirmer(config: Config, mode: str, trusted_hosts: frozenset[str]) -> Confirmer:
    """The confirmer of ``mode`` whose API calls go where the configuration says."""
    clients = aws_clients(config)
    return make_confirmer(
        mode,
        trusted_hosts=trusted_hosts,
        client_factory=clients.sns,
        # In LocalStack mode the API always works (dummy credentials, local endpoint).
        use_api=True if clients.local else None,
    )


def subscription_targets(config: Config, public_url: str, sqs: Any) -> list[Target]:
    """The subscriptions the configuration needs: every endpoint and queue, every topic ARN
    without wildcards (a pattern cannot be subscribed to). ``sqs`` resolves queue ARNs."""
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
        raise ConfigurationError(
            "--public-url must be http(s)://host[:port][/prefix] without credentials or query",
            value=public_url,
        )
    base = public_url.rstrip("/")
    targets: list[Target] = []
    for endpoint in config.endpoints:
        url = base + endpoint.path
        if endpoint.basic_auth_username:
            password = config.secret(endpoint.basic_auth_password_env)
            if not password:
                raise ConfigurationError(
                    f"endpoint {endpoint.path} uses basic auth but {endpoint.basic_auth_password_env} is unset",
                    value=endpoint.path,
                )
            netloc = (
                f"{quote(endpoint.basic_auth_username, safe='')}:{quote(password, safe='')}@{parts.netloc}"
            )
            url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + endpoint.path, "", ""))
        targets += [
            Target(endpoint.path, topic, parts.scheme, url, endpoint.allow_raw_delivery)
            for topic in endpoint.topics
            if "*" not in topic
        ]
    for queue in config.queues:
        attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["QueueArn"])
        arn = attributes["Attributes"]["QueueArn"]
        targets += [
            Target(queue.endpoint, topic, "sqs", arn, queue.raw, queue_url=queue.url)
            for topic in queue.topics
            if "*" not in topic
        ]
    return targets
