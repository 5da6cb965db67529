"""Every error sns-subscriber raises.

The tree (each class carries the context that explains it)::

    SNSSubscriberError
    ├── RejectedMessageError            the request is wrong; SNS must not retry (4xx)
    │   ├── MalformedMessageError       not a well-formed SNS message (400)
    │   │   └── MessageTooLargeError    body over the size cap (413)
    │   ├── UnsupportedMessageError     well-formed but not acceptable here:
    │   │                               unknown Type, unknown SignatureVersion, raw delivery (400)
    │   ├── AuthenticationRequiredError basic auth missing or wrong (401)
    │   ├── VerificationError           not provably from SNS, or not for us (403)
    │   │   ├── UntrustedCertificateURLError
    │   │   ├── InvalidCertificateError
    │   │   ├── InvalidSignatureError
    │   │   ├── TopicNotAllowedError
    │   │   ├── MessageExpiredError
    │   │   └── UntrustedSubscribeURLError
    │   └── MethodNotAllowedError       not a POST (405)
    ├── TemporaryFailureError           our side failed; SNS should retry (503)
    │   ├── CertificateFetchError
    │   ├── ConfirmationError
    │   └── StoreUnavailableError
    ├── ActionError                     an action failed in the worker; the message is retried
    │   ├── EmailSendError
    │   └── WebhookError
    └── ConfigurationError              the program was set up wrong (raised at start)
        └── MissingExtraError           an optional dependency is not installed

``RejectedMessageError`` means "tell SNS no, it will not retry";
``TemporaryFailureError`` means "tell SNS to try again later". ``outcome.outcome_for_error``
is the one place that turns these into HTTP statuses.

Errors are immutable once raised (a shared, cached error cannot be changed under another
request): :meth:`SNSSubscriberError.with_context` returns a copy.
"""

from __future__ import annotations

from typing import Any, Self

__all__ = [
    "ActionError",
    "AuthenticationRequiredError",
    "CertificateFetchError",
    "ConfigurationError",
    "ConfirmationError",
    "EmailSendError",
    "InvalidCertificateError",
    "InvalidSignatureError",
    "MalformedMessageError",
    "MessageExpiredError",
    "MessageTooLargeError",
    "MethodNotAllowedError",
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
    "WebhookError",
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
        object.__setattr__(self, "_sealed", True)

    def __setattr__(self, name: str, value: Any) -> None:
        # Dunder attributes stay writable: Python sets __traceback__, __cause__, __notes__...
        if getattr(self, "_sealed", False) and not name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} is immutable; use with_context() or replace()")
        super().__setattr__(name, value)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` to its attributes, without traceback or chained errors.

        Built without calling ``__init__``, whose signature differs between subclasses.
        """
        cls = type(self)
        clone = cls.__new__(cls, *self.args)
        clone.__dict__.update(self.__dict__)
        for name, value in changes.items():
            if name not in self.__dict__:
                raise AttributeError(f"{cls.__name__} has no attribute {name!r} to replace")
            object.__setattr__(clone, name, value)
        if "reason" in changes:
            object.__setattr__(clone, "args", (changes["reason"],))
        return clone

    def __str__(self) -> str:
        parts = [self.reason]
        if self.value is not None:
            parts.append(f"(value: {_shorten(self.value)})")
        if self.message_id is not None:
            parts.append(f"[MessageId {self.message_id}]")
        return " ".join(parts)

    def with_context(self, *, message_id: str | None, topic_arn: str | None) -> Self:
        """A copy with the message context that was not known where the error was raised."""
        return self.replace(
            message_id=self.message_id if self.message_id is not None else message_id,
            topic_arn=self.topic_arn if self.topic_arn is not None else topic_arn,
        )


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


class MethodNotAllowedError(RejectedMessageError):
    """SNS delivers with POST; any other method is answered 405 with ``Allow: POST``."""

    code = "method_not_allowed"


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


class ActionError(SNSSubscriberError):
    """An action (e-mail, webhook, ...) failed in the worker; the message is retried later,
    and the steps that succeeded are not repeated."""

    code = "action_failed"


class EmailSendError(ActionError):
    """Several e-mails of one message failed; each is retried with the message."""

    code = "email_failed"


class WebhookError(ActionError):
    """The webhook did not accept the POST (the worker retries)."""

    code = "webhook_failed"


class ConfigurationError(SNSSubscriberError, ValueError):
    """sns-subscriber was configured wrong; raised at start-up, never for a request."""

    code = "configuration_error"


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "missing_extra"

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.extra = extra  # before the base class seals the error
        super().__init__(
            f"{feature} needs the optional package {module!r}: pip install 'sns-subscriber[{extra}]'",
            value=module,
        )


def _shorten(value: str, limit: int = 120) -> str:
    # Offending values come from the network; keep log lines bounded and printable.
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return repr(text)
