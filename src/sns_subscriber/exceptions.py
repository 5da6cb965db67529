"""Every error sns-subscriber raises.

The tree (each class carries the context that explains it)::

    SNSSubscriberError
    ├── RejectedMessageError            the request is wrong; SNS must not retry (4xx)
    │   ├── MalformedMessageError       not a well-formed SNS message (400)
    │   │   └── MessageTooLargeError    body over the size cap (413)
    │   ├── UnsupportedMessageError     well-formed but not acceptable here:
    │   │                               unknown Type, unknown SignatureVersion, raw delivery (400)
    │   ├── AuthenticationRequiredError basic auth missing or wrong (401)
    │   └── VerificationError           not provably from SNS, or not for us (403)
    │       ├── UntrustedCertificateURLError
    │       ├── InvalidCertificateError
    │       ├── InvalidSignatureError
    │       ├── TopicNotAllowedError
    │       ├── MessageExpiredError
    │       └── UntrustedSubscribeURLError
    ├── TemporaryFailureError           our side failed; SNS should retry (503)
    │   ├── CertificateFetchError
    │   ├── ConfirmationError
    │   └── StoreUnavailableError
    └── ConfigurationError              the program was set up wrong (raised at start)

``RejectedMessageError`` means "tell SNS no, it will not retry";
``TemporaryFailureError`` means "tell SNS to try again later".
"""

from __future__ import annotations

__all__ = [
    "AuthenticationRequiredError",
    "CertificateFetchError",
    "ConfigurationError",
    "ConfirmationError",
    "InvalidCertificateError",
    "InvalidSignatureError",
    "MalformedMessageError",
    "MessageExpiredError",
    "MessageTooLargeError",
    "MissingExtraError",
    "RejectedMessageError",
    "SNSSubscriberError",
    "StoreUnavailableError",
    "TemporaryFailureError",
    "TopicNotAllowedError",
    "UnsupportedMessageError",
    "UntrustedCertificateURLError",
    "UntrustedSubscribeURLError",
    "VerificationError",
]


class SNSSubscriberError(Exception):
    """Root of every error raised by sns-subscriber.

    ``reason`` is a short human sentence; ``message_id``, ``topic_arn`` and ``value`` give
    context when known. ``value`` is the offending value (a URL, a field name, a version).
    """

    #: Stable machine-readable code, used in response bodies, logs and metrics.
    code: str = "error"

    def __init__(
        self,
        reason: str,
        *,
        message_id: str | None = None,
        topic_arn: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message_id = message_id
        self.topic_arn = topic_arn
        self.value = value

    def __str__(self) -> str:
        parts = [self.reason]
        if self.value is not None:
            parts.append(f"(value: {_shorten(self.value)})")
        if self.message_id is not None:
            parts.append(f"[MessageId {self.message_id}]")
        return " ".join(parts)

    def with_context(self, *, message_id: str | None, topic_arn: str | None) -> SNSSubscriberError:
        """Fill in message context that was not known where the error was raised."""
        if self.message_id is None:
            self.message_id = message_id
        if self.topic_arn is None:
            self.topic_arn = topic_arn
        return self


class RejectedMessageError(SNSSubscriberError):
    """The request is not acceptable; answering 4xx tells SNS not to retry it."""

    code = "rejected"


class MalformedMessageError(RejectedMessageError):
    """The body is not a well-formed SNS message (bad JSON, missing or mistyped field)."""

    code = "malformed"


class MessageTooLargeError(MalformedMessageError):
    """The body is larger than the configured cap."""

    code = "too_large"


class UnsupportedMessageError(RejectedMessageError):
    """Well-formed, but of a kind this endpoint does not accept."""

    code = "unsupported"


class AuthenticationRequiredError(RejectedMessageError):
    """HTTP basic authentication is configured and the request did not pass it."""

    code = "authentication_required"


class VerificationError(RejectedMessageError):
    """The message is not provably from SNS, or not meant for this endpoint."""

    code = "verification_failed"


class UntrustedCertificateURLError(VerificationError):
    """``SigningCertURL`` is not an SNS signing-certificate URL for the topic's region."""

    code = "untrusted_certificate_url"


class InvalidCertificateError(VerificationError):
    """The certificate is not a valid SNS signing certificate (format, name, validity)."""

    code = "invalid_certificate"


class InvalidSignatureError(VerificationError):
    """The signature does not match the message."""

    code = "invalid_signature"


class TopicNotAllowedError(VerificationError):
    """The message comes from a topic this endpoint does not accept."""

    code = "topic_not_allowed"


class MessageExpiredError(VerificationError):
    """The message's Timestamp is too old (a replay) or too far in the future."""

    code = "message_expired"


class UntrustedSubscribeURLError(VerificationError):
    """``SubscribeURL`` is not the SNS confirmation URL of the message's own topic and token;
    visiting it could make us request an attacker's URL (SSRF)."""

    code = "untrusted_subscribe_url"


class TemporaryFailureError(SNSSubscriberError):
    """Our side failed; answering 503 makes SNS deliver the message again later."""

    code = "temporary_failure"


class CertificateFetchError(TemporaryFailureError):
    """The signing certificate could not be downloaded (network, timeout, HTTP error)."""

    code = "certificate_fetch_failed"


class ConfirmationError(TemporaryFailureError):
    """A subscription could not be confirmed right now."""

    code = "confirmation_failed"


class StoreUnavailableError(TemporaryFailureError):
    """The inbox store could not durably record the message."""

    code = "store_unavailable"


class ConfigurationError(SNSSubscriberError, ValueError):
    """sns-subscriber was configured wrong; raised at start-up, never for a request."""

    code = "configuration_error"


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "missing_extra"

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional package {module!r}: pip install 'sns-subscriber[{extra}]'",
            value=module,
        )
        self.extra = extra


def _shorten(value: str, limit: int = 120) -> str:
    # Offending values come from the network; keep log lines bounded and printable.
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return repr(text)
