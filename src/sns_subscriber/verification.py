"""Deciding whether a parsed message really comes from SNS and is meant for us.

``Verifier.verify`` runs the cheap, local checks first (signature version, topic allow-list,
freshness, certificate URL) so that junk and foreign topics never cause a certificate fetch,
then the certificate (cache / pinned directory / HTTPS) and the RSA signature.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .cache import CertificateCache, KnownURLFile, Loaded
from .certs import (
    check_certificate_url,
    expected_certificate_name,
    load_signing_certificate,
    region_of_certificate_url,
)
from .exceptions import (
    CertificateFetchError,
    ConfigurationError,
    InvalidSignatureError,
    MessageExpiredError,
    SNSSubscriberError,
    TopicNotAllowedError,
    UntrustedCertificateURLError,
)
from .fetch import fetch_certificate_pem
from .messages import MAX_TOPIC_ARN_LENGTH, Notification, SNSMessage
from .signing import algorithm_for, verify_signature

__all__ = ["AsyncVerifier", "InsecurePolicyWarning", "VerificationPolicy", "Verifier"]

M = TypeVar("M", bound=SNSMessage)
Clock = Callable[[], datetime]

_MAX_TRUSTED_URL_LENGTH: Final = 512
_ARN_PATTERN: Final = re.compile(r"^arn:[a-z*][a-z0-9*-]*:sns:[a-z0-9*-]+:[0-9*]+:[A-Za-z0-9_.*-]+$")


class InsecurePolicyWarning(UserWarning):
    """A verification setting that turns off a protection was used."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _compile_topic_pattern(pattern: str) -> tuple[re.Pattern[str], ...]:
    """One regex per ARN field: "*" matches within one field only, so
    "arn:aws:sns:*:123456789012:alerts" cannot be stretched across the account boundary."""
    if not _ARN_PATTERN.fullmatch(pattern):
        raise ConfigurationError(
            "allowed topic must be an SNS topic ARN, optionally with * wildcards", value=pattern
        )
    return tuple(_field_glob(part) for part in pattern.split(":"))


def _field_glob(glob: str) -> re.Pattern[str]:
    # Every "*" but the last is an atomic lazy group: it takes the first place where the text
    # after it fits and never reconsiders. Within one field (no ":" to align on) the earliest
    # fit is always the best one, and the match stays linear. Plain ".*" for every "*"
    # backtracked polynomially: a stranger's TopicArn against "a*a*a*a*b" took seconds, before
    # any signature was checked.
    first, *rest = (re.escape(part) for part in glob.split("*"))
    if not rest:
        return re.compile(first)
    *middle, last = rest
    return re.compile(first + "".join(f"(?>.*?{part})" for part in middle) + f".*{last}", re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationPolicy:
    """What a message must satisfy beyond a valid SNS signature.

    ``allowed_topic_arns`` is required: a valid signature only proves the message came from
    SNS, and anyone can subscribe your URL to their own topic. Entries are exact ARNs or
    patterns with ``*`` (one ARN field at most per ``*``). ``allow_any_topic=True`` turns
    that off, for development only, and warns.
    """

    #: Any sequence of ARNs (kept as a tuple); ``*`` matches within one ARN field.
    allowed_topic_arns: Sequence[str] = ()
    allow_any_topic: bool = False
    #: Notifications older than this are replays (SNS stops retrying after one hour).
    max_age: timedelta = timedelta(hours=1)
    #: Confirmations live as long as their token (two days).
    confirmation_max_age: timedelta = timedelta(days=2)
    #: Tolerated clock difference between SNS and this host, both directions.
    clock_skew: timedelta = timedelta(minutes=5)
    signature_versions: frozenset[str] = frozenset({"1", "2"})
    _patterns: tuple[tuple[re.Pattern[str], ...], ...] = field(init=False, repr=False, compare=False)
    _exact: frozenset[str] = field(init=False, repr=False, compare=False)
    _oldest_notification: timedelta = field(init=False, repr=False, compare=False)
    _oldest_confirmation: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        given: object = self.allowed_topic_arns
        if isinstance(given, str):
            raise ConfigurationError("allowed_topic_arns must be a sequence of ARNs, not one string")
        topics = tuple(self.allowed_topic_arns)
        object.__setattr__(self, "allowed_topic_arns", topics)
        object.__setattr__(self, "signature_versions", frozenset(self.signature_versions))
        if not topics and not self.allow_any_topic:
            raise ConfigurationError(
                "VerificationPolicy needs allowed_topic_arns (or allow_any_topic=True for "
                "development): a valid signature does not prove a message is meant for you"
            )
        if self.allow_any_topic:
            warnings.warn(
                "allow_any_topic=True accepts messages from any AWS account's topic; use "
                "allowed_topic_arns in production",
                InsecurePolicyWarning,
                stacklevel=3,
            )
        unknown = self.signature_versions - {"1", "2"}
        if unknown or not self.signature_versions:
            raise ConfigurationError("signature_versions must be a non-empty subset of {'1', '2'}")
        for name in ("max_age", "confirmation_max_age", "clock_skew"):
            if getattr(self, name) < timedelta(0):
                raise ConfigurationError(f"{name} must not be negative")
        exact = frozenset(t for t in topics if "*" not in t)
        patterns = tuple(_compile_topic_pattern(t) for t in topics if "*" in t)
        for topic in exact:
            _compile_topic_pattern(topic)  # validates the form
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_patterns", patterns)
        # The age limits with the skew allowance folded in, computed once.
        object.__setattr__(self, "_oldest_notification", self.max_age + self.clock_skew)
        object.__setattr__(self, "_oldest_confirmation", self.confirmation_max_age + self.clock_skew)

    def topic_allowed(self, topic_arn: str) -> bool:
        if self.allow_any_topic or topic_arn in self._exact:
            return True
        if not self._patterns or len(topic_arn) > MAX_TOPIC_ARN_LENGTH:
            return False
        fields = topic_arn.split(":")
        return any(
            len(fields) == len(globs) and all(g.fullmatch(f) for g, f in zip(globs, fields, strict=True))
            for globs in self._patterns
        )


class _PinnedThenFetched:
    """Certificate bytes: the pinned directory first, then (if allowed) HTTPS."""

    def __init__(
        self,
        cert_dir: Path | None,
        *,
        fetch: bool,
        timeout: float,
        ssl_context: ssl.SSLContext | None,
        http_hosts: frozenset[str] = frozenset(),
        connect_to: tuple[str, int] | None = None,
    ) -> None:
        self.cert_dir = cert_dir
        self.http_hosts = http_hosts
        self.fetch = fetch
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.connect_to = connect_to

    def needs_network(self, url: str) -> bool:
        """Whether loading ``url`` would download it (the only loads worth rationing)."""
        if not self.fetch:
            return False
        if self.cert_dir is None:
            return True
        return not (self.cert_dir / url.rsplit("/", 1)[-1]).is_file()

    def __call__(self, url: str) -> bytes:
        if self.cert_dir is not None:
            basename = url.rsplit("/", 1)[-1]
            path = self.cert_dir / basename
            try:
                return path.read_bytes()
            except FileNotFoundError:
                if not self.fetch:
                    raise CertificateFetchError(
                        f"certificate {basename} is not in the pinned directory {self.cert_dir} "
                        "and fetching is disabled",
                        value=url,
                    ) from None
            except OSError as exc:
                raise CertificateFetchError(
                    f"cannot read pinned certificate {path}: {exc}", value=url
                ) from exc
        if not self.fetch:
            raise CertificateFetchError("no pinned certificate directory and fetching is disabled", value=url)
        # LocalStack (an explicitly trusted development host) serves its certificate over http.
        local = urlsplit(url).netloc in self.http_hosts
        return fetch_certificate_pem(
            url,
            timeout=self.timeout,
            ssl_context=self.ssl_context,
            allow_http=local,
            connect_to=self.connect_to,
        )


class _BaseVerifier:
    def __init__(
        self,
        policy: VerificationPolicy,
        *,
        cert_dir: str | Path | None = None,
        clock: Clock | None = None,
        fetch: bool = True,
        fetch_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        cache: CertificateCache[RSAPublicKey] | None = None,
        trusted_url_hosts: frozenset[str] = frozenset(),
        timer: Callable[[float], None] | None = None,
        known_urls_file: str | Path | None = None,
        connect_to: tuple[str, int] | None = None,
    ) -> None:
        self.policy = policy
        #: Called with the seconds each verify() took, accepted or not (metrics).
        self.timer = timer
        #: host[:port] values (LocalStack) whose certificate URLs are trusted as they are.
        self.trusted_url_hosts = frozenset(trusted_url_hosts)
        if self.trusted_url_hosts:
            warnings.warn(
                f"trusting certificate URLs on {sorted(self.trusted_url_hosts)}: development only",
                InsecurePolicyWarning,
                stacklevel=3,
            )
        self.clock: Clock = clock or _utcnow
        directory = Path(cert_dir) if cert_dir is not None else None
        if directory is not None and not directory.is_dir():
            raise ConfigurationError("certificate directory does not exist", value=str(directory))
        self._source = _PinnedThenFetched(
            directory,
            fetch=fetch,
            timeout=fetch_timeout,
            ssl_context=ssl_context,
            http_hosts=self.trusted_url_hosts,
            connect_to=connect_to,
        )
        if cache is not None and known_urls_file is not None:
            raise ConfigurationError(
                "give known_urls_file to the CertificateCache you pass, not to the verifier"
            )
        self.cache: CertificateCache[RSAPublicKey] = cache or CertificateCache(
            self._load,
            clock=self.clock,
            needs_network=self._source.needs_network,
            known_urls=KnownURLFile(known_urls_file) if known_urls_file is not None else None,
        )

    def _load(self, url: str) -> Loaded[RSAPublicKey]:
        region = region_of_certificate_url(url)
        if region is None and not self._trusted_url(url):  # pragma: no cover - URL policy ran first
            raise UntrustedCertificateURLError("not an SNS certificate URL", value=url)
        pem = self._source(url)
        expected = expected_certificate_name(region) if region is not None else None
        cert = load_signing_certificate(pem, expected_name=expected, now=self.clock())
        return Loaded(cert.public_key, cert.not_after)

    def _trusted_url(self, url: str) -> bool:
        if not self.trusted_url_hosts:
            return False
        if len(url) > _MAX_TRUSTED_URL_LENGTH:  # the cache keys on it: keep what it holds small
            return False
        try:
            parts = urlsplit(url)
        except ValueError:  # "http://[::1/x.pem": a malformed URL is not trusted (nor a 500)
            return False
        return (
            parts.scheme in ("http", "https")
            and parts.netloc in self.trusted_url_hosts
            and url.endswith(".pem")
        )

    def _precheck(self, message: SNSMessage) -> datetime:
        """Every check that needs no certificate; raises the first failure. Returns "now"."""
        policy = self.policy
        algorithm_for(message.signature_version, message_id=message.message_id)
        if message.signature_version not in policy.signature_versions:
            raise InvalidSignatureError(
                "SignatureVersion not accepted by this endpoint's policy",
                message_id=message.message_id,
                value=message.signature_version,
            )
        if not policy.topic_allowed(message.topic_arn):
            raise TopicNotAllowedError("topic is not in this endpoint's allow-list", value=message.topic_arn)
        now = self.clock()
        sent = message.sent_at
        notification = isinstance(message, Notification)
        if sent < now - (policy._oldest_notification if notification else policy._oldest_confirmation):
            max_age = policy.max_age if notification else policy.confirmation_max_age
            raise MessageExpiredError(
                f"message is older than {_describe(max_age)} (a replay or a very late retry)",
                value=message.timestamp,
            )
        if sent > now + policy.clock_skew:
            raise MessageExpiredError("message Timestamp is in the future", value=message.timestamp)
        if not self._trusted_url(message.signing_cert_url):
            check_certificate_url(message.signing_cert_url, message.topic_arn, message_id=message.message_id)
        return now


class Verifier(_BaseVerifier):
    """Verify parsed SNS messages.

    ``cert_dir`` pins certificates: a file named like the URL's basename is used without any
    network access (the URL policy is still applied first) and is never rationed. With
    ``fetch=False`` a missing pinned certificate is an error instead of an HTTPS download.
    ``clock`` returns an aware "now" (tests and offline checks set it). ``known_urls_file``
    remembers, across restarts, the certificate URLs that verified a message, so they are
    never rationed (see :class:`~sns_subscriber.cache.KnownURLFile`). ``connect_to`` sends
    certificate downloads to another address (tests).
    """

    def verify(self, message: M, *, client: str | None = None) -> M:
        """Return ``message`` if it is authentic and acceptable; raise otherwise.

        ``client`` (the sender's IP address) gives each sender its own share of certificate
        downloads for never-seen URLs, so one sender's junk cannot use up everybody's."""
        timer = self.timer
        start = time.perf_counter() if timer is not None else 0.0
        try:
            now = self._precheck(message)
            key = self.cache.get(message.signing_cert_url, now=now, client=client)
            verify_signature(key, message)
            self.cache.vouch(message.signing_cert_url)
        except SNSSubscriberError as exc:
            context = exc.with_context(message_id=message.message_id, topic_arn=message.topic_arn)
            raise context.with_traceback(exc.__traceback__) from exc.__cause__
        finally:
            if timer is not None:
                timer(time.perf_counter() - start)
        return message


class AsyncVerifier(_BaseVerifier):
    """:class:`Verifier` for asyncio code: a certificate download never blocks the loop."""

    async def verify(self, message: M, *, client: str | None = None) -> M:
        timer = self.timer
        start = time.perf_counter() if timer is not None else 0.0
        try:
            now = self._precheck(message)
            key = await self.cache.aget(message.signing_cert_url, now=now, client=client)
            verify_signature(key, message)
            if not self.cache.vouched(message.signing_cert_url):
                # The first time only: it may write the known-URL file, off the event loop.
                await asyncio.to_thread(self.cache.vouch, message.signing_cert_url)
        except SNSSubscriberError as exc:
            context = exc.with_context(message_id=message.message_id, topic_arn=message.topic_arn)
            raise context.with_traceback(exc.__traceback__) from exc.__cause__
        finally:
            if timer is not None:
                timer(time.perf_counter() - start)
        return message


def _describe(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds} seconds"
