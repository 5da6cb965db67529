"""The one place that builds boto3 clients.

Every AWS call the project makes (confirmation through the API, SQS polling, the
``subscriptions``, ``dlq`` and ``budgets`` commands) gets its client from :class:`AwsClients`,
so an ``endpoint_url`` (LocalStack, moto server, a VPC endpoint) applies to all of them. In
LocalStack mode the clients also get fixed dummy credentials: credentials found in the
environment belong to a real account and must not be sent to an emulator, and a client
built without the endpoint would reach real AWS with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ..exceptions import MissingExtraError

__all__ = ["LOCALSTACK_CREDENTIALS", "AwsClients"]

#: What LocalStack accepts (any value works; these are its documented defaults).
LOCALSTACK_CREDENTIALS: Final = ("test", "test")


@dataclass(frozen=True, slots=True)
class AwsClients:
    """Builds boto3 clients for one AWS target.

    ``region`` is the default region (a topic's own region wins for SNS calls on that topic);
    ``endpoint_url`` sends every call there; ``credentials`` (access key, secret) replace
    the environment's, used for LocalStack only.
    """

    region: str = "us-east-1"
    endpoint_url: str | None = None
    credentials: tuple[str, str] | None = None

    @classmethod
    def localstack(cls, host: str, *, region: str = "us-east-1") -> AwsClients:
        """Clients that only ever talk to LocalStack at ``host`` (``host[:port]``)."""
        return cls(region=region, endpoint_url=f"http://{host}", credentials=LOCALSTACK_CREDENTIALS)

    @property
    def local(self) -> bool:
        """True when every call goes to an emulator with dummy credentials."""
        return self.credentials is not None

    def client(self, service: str, region: str | None = None) -> Any:
        try:
            import boto3  # noqa: PLC0415 - optional extra
        except ModuleNotFoundError as exc:
            raise MissingExtraError(f"Calling AWS {service}", "aws", "boto3") from exc
        options: dict[str, Any] = {"region_name": region or self.region}
        if self.endpoint_url is not None:
            options["endpoint_url"] = self.endpoint_url
        if self.credentials is not None:
            options["aws_access_key_id"], options["aws_secret_access_key"] = self.credentials
            # A session token in the environment would be sent along otherwise.
            options["aws_session_token"] = None
        session: Any = boto3.session.Session()  # untyped: the stubs overload per service name
        return session.client(service, **options)

    def sns(self, region: str | None = None) -> Any:
        return self.client("sns", region)

    def sqs(self, region: str | None = None) -> Any:
        return self.client("sqs", region)

    def budgets(self) -> Any:
        # Budgets has one endpoint, in us-east-1, for every account.
        return self.client("budgets", "us-east-1")

    def sts(self) -> Any:
        return self.client("sts")
