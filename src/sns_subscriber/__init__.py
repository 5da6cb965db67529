"""sns-subscriber: receive Amazon SNS messages over HTTP(S) safely.

Parse and verify::

    from sns_subscriber import VerificationPolicy, Verifier, parse

    verifier = Verifier(VerificationPolicy(allowed_topic_arns=["arn:aws:sns:us-east-1:123456789012:alerts"]))
    message = verifier.verify(parse(body, headers))

Importing this package imports no web framework, boto3 or database driver.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .exceptions import (
    AuthenticationRequiredError,
    CertificateFetchError,
    ConfigurationError,
    ConfirmationError,
    InvalidCertificateError,
    InvalidSignatureError,
    MalformedMessageError,
    MessageExpiredError,
    MessageTooLargeError,
    RejectedMessageError,
    SNSSubscriberError,
    StoreUnavailableError,
    TemporaryFailureError,
    TopicNotAllowedError,
    UnsupportedMessageError,
    UntrustedCertificateURLError,
    VerificationError,
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

try:
    __version__ = version("sns-subscriber")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"

__all__ = [
    "AsyncVerifier",
    "AuthenticationRequiredError",
    "CertificateFetchError",
    "ConfigurationError",
    "ConfirmationError",
    "InsecurePolicyWarning",
    "InvalidCertificateError",
    "InvalidSignatureError",
    "MalformedMessageError",
    "MessageExpiredError",
    "MessageTooLargeError",
    "Notification",
    "RawNotification",
    "RejectedMessageError",
    "SNSMessage",
    "SNSSubscriberError",
    "StoreUnavailableError",
    "SubscriptionConfirmation",
    "TemporaryFailureError",
    "TopicArn",
    "TopicNotAllowedError",
    "UnsubscribeConfirmation",
    "UnsupportedMessageError",
    "UntrustedCertificateURLError",
    "VerificationError",
    "VerificationPolicy",
    "Verifier",
    "__version__",
    "parse",
]
