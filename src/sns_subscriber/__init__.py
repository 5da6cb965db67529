"""sns-subscriber: receive Amazon SNS messages over HTTP(S) safely.

The pipeline: a :class:`Subscriber` (:class:`AsyncSubscriber` for asyncio) verifies each
request, confirms subscriptions and stores notifications in an inbox (:func:`open_store`); a
:class:`Worker` hands each stored message, as a :class:`Delivery`, to the handlers a
:class:`Router` matches. Or just parse and verify::

    from sns_subscriber import VerificationPolicy, Verifier, parse

    verifier = Verifier(VerificationPolicy(allowed_topic_arns=["arn:aws:sns:us-east-1:123456789012:alerts"]))
    message = verifier.verify(parse(body, headers))

Importing this package imports no web framework, boto3 or database driver; the pipeline's
names load on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .exceptions import (
    ActionError,
    AuthenticationRequiredError,
    CertificateFetchError,
    ConfigurationError,
    ConfirmationError,
    EmailSendError,
    InvalidCertificateError,
    InvalidSignatureError,
    MalformedMessageError,
    MessageExpiredError,
    MessageTooLargeError,
    MethodNotAllowedError,
    MissingExtraError,
    RejectedMessageError,
    SNSSubscriberError,
    StoreUnavailableError,
    TemporaryFailureError,
    TopicNotAllowedError,
    UnsupportedMessageError,
    UntrustedCertificateURLError,
    UntrustedSubscribeURLError,
    VerificationError,
    WebhookError,
)
from .messages import (
    Notification,
    RawNotification,
    SNSMessage,
    SubscriptionConfirmation,
    TopicArn,
    UnsubscribeConfirmation,
)
from .parsing import parse
from .verification import AsyncVerifier, InsecurePolicyWarning, VerificationPolicy, Verifier

if TYPE_CHECKING:
    from .delivery import Delivery
    from .routing import Router
    from .stores import open_store
    from .subscriber import AsyncSubscriber, Subscriber
    from .worker import Worker

# The pipeline, imported on first use (``import sns_subscriber`` stays a few milliseconds).
_LAZY = {
    "AsyncSubscriber": ".subscriber",
    "Delivery": ".delivery",
    "Router": ".routing",
    "Subscriber": ".subscriber",
    "Worker": ".worker",
    "open_store": ".stores",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = version("sns-subscriber")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"

__all__ = [
    "ActionError",
    "AsyncSubscriber",
    "AsyncVerifier",
    "AuthenticationRequiredError",
    "CertificateFetchError",
    "ConfigurationError",
    "ConfirmationError",
    "Delivery",
    "EmailSendError",
    "InsecurePolicyWarning",
    "InvalidCertificateError",
    "InvalidSignatureError",
    "MalformedMessageError",
    "MessageExpiredError",
    "MessageTooLargeError",
    "MethodNotAllowedError",
    "MissingExtraError",
    "Notification",
    "RawNotification",
    "RejectedMessageError",
    "Router",
    "SNSMessage",
    "SNSSubscriberError",
    "StoreUnavailableError",
    "Subscriber",
    "SubscriptionConfirmation",
    "TemporaryFailureError",
    "TopicArn",
    "TopicNotAllowedError",
    "UnsubscribeConfirmation",
    "UnsupportedMessageError",
    "UntrustedCertificateURLError",
    "UntrustedSubscribeURLError",
    "VerificationError",
    "VerificationPolicy",
    "Verifier",
    "WebhookError",
    "Worker",
    "__version__",
    "open_store",
    "parse",
]
