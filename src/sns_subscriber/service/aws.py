"""The AWS target the configuration describes: ``[aws]`` and ``[localstack]``."""

from __future__ import annotations

from ..aws.clients import LOCALSTACK_CREDENTIALS, AwsClients
from ..confirmation import Confirmer, make_confirmer
from .config import Config

__all__ = ["aws_clients", "configured_confirmer", "localstack_hosts"]


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
