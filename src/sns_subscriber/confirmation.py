"""Confirming subscriptions, without ever being turned into a request forwarder.

Modes (the attacks each check stops are named tests in ``tests/test_attacks.py``):

- ``api``: the ``ConfirmSubscription`` API with ``AuthenticateOnUnsubscribe=true`` in the
  topic's own region, so only the topic or subscription owner can unsubscribe us later;
- ``url``: GET ``SubscribeURL``, only after checking it is exactly the SNS confirmation URL
  of this message's own region, topic and token; no redirects, short timeout;
- ``auto``: ``api`` when boto3 and AWS credentials are available, else ``url``;
- ``manual``: record the request as pending; a person confirms it later (CLI).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from .certs import sns_host
from .exceptions import (
    ConfigurationError,
    ConfirmationError,
    MissingExtraError,
    UntrustedSubscribeURLError,
)
from .fetch import https_get
from .messages import SubscriptionConfirmation, TopicArn

__all__ = [
    "ApiConfirmer",
    "AutoConfirmer",
    "ConfirmMode",
    "ConfirmResult",
    "Confirmer",
    "ManualConfirmer",
    "UrlConfirmer",
    "check_subscribe_url",
    "make_confirmer",
]

logger = logging.getLogger("sns_subscriber.confirmation")

ConfirmMode = Literal["auto", "api", "url", "manual"]
CONFIRM_MODES: Final = ("auto", "api", "url", "manual")
_SUBSCRIPTION_ARN: Final = re.compile(r"<SubscriptionArn>\s*([^<\s]+)\s*</SubscriptionArn>")


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    """``confirmed`` False means: recorded as pending, to be confirmed by a person."""

    confirmed: bool
    subscription_arn: str | None
    method: str


class Confirmer(Protocol):
    def confirm(self, message: SubscriptionConfirmation) -> ConfirmResult: ...


def check_subscribe_url(
    message: SubscriptionConfirmation, *, trusted_hosts: frozenset[str] = frozenset()
) -> str:
    """Return ``message.subscribe_url`` if it is the SNS confirmation URL of this very topic
    and token on the SNS host of the topic's region; raise UntrustedSubscribeURLError."""
    url = message.subscribe_url

    def refuse(reason: str) -> UntrustedSubscribeURLError:
        return UntrustedSubscribeURLError(
            reason, message_id=message.message_id, topic_arn=message.topic_arn, value=url
        )

    topic = TopicArn.parse(message.topic_arn)
    expected_host = sns_host(topic) if topic is not None else None
    if expected_host is None:
        raise refuse("topic's region does not belong to its partition")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise refuse(f"SubscribeURL does not parse: {exc}") from exc
    host_ok = parts.scheme == "https" and parts.netloc == expected_host and port is None
    local_ok = parts.netloc in trusted_hosts and parts.scheme in ("http", "https")
    if not (host_ok or local_ok):
        raise refuse(f"SubscribeURL must be https://{expected_host}/ (the topic's own region)")
    if parts.path not in ("/", "") or parts.fragment or any(c in url for c in "\\\r\n\t "):
        raise refuse("SubscribeURL has an unexpected path or characters")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise refuse("SubscribeURL query does not parse") from exc
    expected = {
        "Action": ["ConfirmSubscription"],
        "TopicArn": [message.topic_arn],
        "Token": [message.token],
    }
    if query != expected:
        raise refuse("SubscribeURL must confirm this message's own topic and token, and nothing else")
    return url


class UrlConfirmer:
    """Confirm by GET of the checked ``SubscribeURL`` (no redirects, short timeout)."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        trusted_hosts: frozenset[str] = frozenset(),
        connect_to: tuple[str, int] | None = None,
    ) -> None:
        self.timeout = timeout
        self.ssl_context = ssl_context
        #: Connect elsewhere while verifying TLS for the real host (tests, egress proxies).
        self.connect_to = connect_to
        #: Extra host[:port] values accepted (LocalStack); plain http allowed for those only.
        self.trusted_hosts = trusted_hosts

    def confirm(self, message: SubscriptionConfirmation) -> ConfirmResult:
        url = check_subscribe_url(message, trusted_hosts=self.trusted_hosts)
        local = urlsplit(url).netloc in self.trusted_hosts
        try:
            response = https_get(
                url,
                timeout=self.timeout,
                ssl_context=self.ssl_context,
                allow_http=local,
                max_bytes=65_536,
                connect_to=self.connect_to,
            )
        except ConfirmationError:
            raise
        except Exception as exc:  # the fetch port raises its own temporary errors
            raise ConfirmationError(
                f"could not reach SubscribeURL: {exc}", message_id=message.message_id
            ) from exc
        if response.status != 200:
            raise ConfirmationError(
                f"SubscribeURL answered HTTP {response.status}",
                message_id=message.message_id,
                topic_arn=message.topic_arn,
            )
        found = _SUBSCRIPTION_ARN.search(response.body.decode("utf-8", "replace"))
        return ConfirmResult(True, found.group(1) if found else None, "url")


ClientFactory = Callable[[str], Any]


def _default_client_factory(endpoint_url: str | None) -> ClientFactory:
    def factory(region: str) -> Any:
        try:
            import boto3  # noqa: PLC0415 - optional extra
        except ModuleNotFoundError as exc:
            raise MissingExtraError("Confirming through the SNS API", "aws", "boto3") from exc
        return boto3.client("sns", region_name=region, endpoint_url=endpoint_url)

    return factory


class ApiConfirmer:
    """Confirm with ``ConfirmSubscription`` and ``AuthenticateOnUnsubscribe=true`` in the
    topic's own region. ``client_factory(region)`` returns a boto3 SNS client."""

    def __init__(
        self, *, client_factory: ClientFactory | None = None, endpoint_url: str | None = None
    ) -> None:
        self.client_factory = client_factory or _default_client_factory(endpoint_url)

    def confirm(self, message: SubscriptionConfirmation) -> ConfirmResult:
        topic = TopicArn.parse(message.topic_arn)
        if topic is None:  # pragma: no cover - parse() guarantees a valid ARN
            raise ConfirmationError("TopicArn does not parse", value=message.topic_arn)
        try:
            client = self.client_factory(topic.region)
            answer = client.confirm_subscription(
                TopicArn=message.topic_arn, Token=message.token, AuthenticateOnUnsubscribe="true"
            )
        except MissingExtraError:
            raise
        except Exception as exc:  # botocore raises many unrelated classes; all are "try later"
            raise ConfirmationError(
                f"ConfirmSubscription failed: {type(exc).__name__}: {exc}",
                message_id=message.message_id,
                topic_arn=message.topic_arn,
            ) from exc
        return ConfirmResult(True, answer.get("SubscriptionArn"), "api")


def aws_credentials_available() -> bool:
    try:
        import boto3  # noqa: PLC0415 - optional extra
    except ModuleNotFoundError:
        return False
    try:
        return boto3.Session().get_credentials() is not None
    except Exception:  # a broken profile must not break confirmation; fall back to url
        return False


class AutoConfirmer:
    """``api`` when AWS credentials are available (decided once), else ``url``."""

    def __init__(self, api: ApiConfirmer | None = None, url: UrlConfirmer | None = None,
                 *, use_api: bool | None = None) -> None:  # fmt: skip
        self.use_api = aws_credentials_available() if use_api is None else use_api
        self.api = api or ApiConfirmer()
        self.url = url or UrlConfirmer()

    def confirm(self, message: SubscriptionConfirmation) -> ConfirmResult:
        return (self.api if self.use_api else self.url).confirm(message)


class ManualConfirmer:
    """Record the request as pending; confirm later with ``sns-subscriber subscriptions confirm``
    or the console.

    ``trusted_hosts`` as for :class:`UrlConfirmer`: the LocalStack host whose SubscribeURL
    the later confirmation will visit."""

    def __init__(self, *, trusted_hosts: frozenset[str] = frozenset()) -> None:
        self.trusted_hosts = trusted_hosts

    def confirm(self, message: SubscriptionConfirmation) -> ConfirmResult:
        # Refuse to even store an unusable URL.
        check_subscribe_url(message, trusted_hosts=self.trusted_hosts)
        return ConfirmResult(False, None, "manual")


def make_confirmer(
    mode: str,
    *,
    endpoint_url: str | None = None,
    trusted_hosts: frozenset[str] = frozenset(),
    client_factory: ClientFactory | None = None,
    use_api: bool | None = None,
) -> Confirmer:
    """The confirmer of ``mode``. ``client_factory(region)`` builds the SNS clients of the
    ``api`` mode (LocalStack's, when it is enabled); ``use_api`` overrides ``auto``'s
    detection of AWS credentials."""
    if mode == "api":
        return ApiConfirmer(client_factory=client_factory, endpoint_url=endpoint_url)
    if mode == "url":
        return UrlConfirmer(trusted_hosts=trusted_hosts)
    if mode == "auto":
        return AutoConfirmer(
            ApiConfirmer(client_factory=client_factory, endpoint_url=endpoint_url),
            UrlConfirmer(trusted_hosts=trusted_hosts),
            use_api=use_api,
        )
    if mode == "manual":
        return ManualConfirmer(trusted_hosts=trusted_hosts)
    raise ConfigurationError(f"confirm must be one of {', '.join(CONFIRM_MODES)}", value=mode)
