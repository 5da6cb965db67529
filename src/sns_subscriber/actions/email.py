"""Sending e-mail: backends (SMTP, Amazon SES, an ``.eml`` outbox, the console) and templates.

Every backend takes a finished :class:`email.message.EmailMessage` and either delivers it or
raises; the worker retries the message later, so a backend never swallows a failure.
Backends are shared by every worker thread and must be thread-safe.

The file outbox is the default of a fresh install: nothing leaves the machine until an SMTP
server or SES is configured, and every e-mail can still be opened in a mail client.
"""

from __future__ import annotations

import contextlib
import email.policy
import ipaddress
import logging
import os
import re
import secrets
import smtplib
import ssl as ssl_module
import sys
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TextIO, cast

from ..exceptions import ConfigurationError, MissingExtraError
from ..redaction import terminal_safe

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "BACKEND_KINDS",
    "ConsoleBackend",
    "EmailBackend",
    "FileBackend",
    "SESBackend",
    "SMTPBackend",
    "Templates",
]

logger = logging.getLogger("sns_subscriber.actions.email")

#: ``policy.SMTP`` is ``policy.default`` with CRLF line ends: what RFC 5322 and SMTP expect.
WIRE_POLICY = email.policy.SMTP


class EmailBackend(Protocol):
    """Where finished e-mails go. ``send`` raises on failure (the worker retries the message);
    ``close`` releases connections and may be called more than once."""

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


def _recipients(message: EmailMessage) -> list[str]:
    found: list[str] = []
    for name in ("To", "Cc", "Bcc"):
        for value in message.get_all(name, []):
            # Parsed address headers know their mailboxes; re-parsing their text could not
            # do better (quoted names with commas, encoded words).
            addresses = getattr(value, "addresses", None)
            if addresses is not None:
                found += [address.addr_spec for address in addresses]
            else:
                found += [address for _, address in getaddresses([str(value)]) if address]
    return found


def _without_bcc(message: EmailMessage) -> EmailMessage:
    # Bcc recipients are envelope-only; leaving the header in would show them to everyone.
    if "Bcc" not in message:
        return message
    copy = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    del copy["Bcc"]
    return copy


# -- SMTP -----------------------------------------------------------------------------------


class SMTPBackend:
    """Send through an SMTP server with :mod:`smtplib`, over one connection kept open.

    Opening a connection (TCP, TLS, AUTH) costs more than sending a short e-mail, so one
    connection is reused for every send. If the server dropped it while idle, the send
    reconnects once and tries again. Sends are serialised by a lock, so one backend can be
    shared by all worker threads.

    ``ssl=True`` is SMTP over TLS (port 465 when ``port`` is not given); ``starttls=True``
    upgrades a plain connection (usually port 587). Without either, the connection is plain
    text: only suitable for a relay on localhost or a trusted network.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        starttls: bool = False,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl_module.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if starttls and ssl:
            raise ConfigurationError(
                "SMTP: choose starttls (upgrade a plain connection) or ssl (TLS from the start), not both"
            )
        if not host:
            raise ConfigurationError("SMTP: a host is required")
        if password is not None and username is None:
            raise ConfigurationError("SMTP: a password was given without a username")
        if username is not None and not (starttls or ssl) and not is_loopback_host(host):
            # Refused here, before any connection: AUTH PLAIN/LOGIN sends the password as
            # base64, readable by anyone on the path.
            raise ConfigurationError(
                f"SMTP: refusing to send the password for {username!r} to {host} without TLS; "
                "set starttls = true (usually port 587) or ssl = true (port 465). Plain-text AUTH "
                "is only allowed to a relay on this machine (localhost, 127.0.0.1, ::1)",
                value=host,
            )
        self.host = host
        self.port = port if port is not None else (465 if ssl else 25)
        self.starttls = starttls
        self.ssl = ssl
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context
        # smtplib's default is socket.getfqdn(), a DNS lookup that can stall each connect.
        self._local_hostname = local_hostname or "localhost"
        self._lock = threading.Lock()
        self._connection: smtplib.SMTP | None = None
        #: Connections opened so far (a reconnect counts); for metrics and tests.
        self.connections_opened = 0

    def __repr__(self) -> str:
        return f"SMTPBackend({self.host!r}, {self.port}, starttls={self.starttls}, ssl={self.ssl})"

    def _context(self) -> ssl_module.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl_module.create_default_context()
        return self._ssl_context

    def _connect(self) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if self.ssl:
            connection = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self._local_hostname,
                timeout=self.timeout,
                context=self._context(),
            )
        else:
            connection = smtplib.SMTP(
                self.host, self.port, local_hostname=self._local_hostname, timeout=self.timeout
            )
        try:
            if self.starttls:
                connection.ehlo()
                connection.starttls(context=self._context())
                connection.ehlo()
            if self.username is not None:
                connection.login(self.username, self._password or "")
        except BaseException:
            connection.close()
            raise
        self.connections_opened += 1
        return connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.close()

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            reused = self._connection is not None
            if self._connection is None:
                self._connection = self._connect()
            try:
                self._send(self._connection, message)
            except Exception as exc:
                lost = _connection_lost(exc)
                if lost or not isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
                    # smtplib RSETs after a refusal, so only then is the session known to be usable.
                    self._drop()
                if not (reused and lost):
                    raise
                # The server closed a connection that sat idle (its timeout, a restart, 421).
                # The worker would resend the message anyway; resending now saves a backoff.
                logger.info("SMTP connection to %s:%s was lost (%s); reconnecting", self.host, self.port, exc)
                self._connection = self._connect()
                try:
                    self._send(self._connection, message)
                except Exception:
                    self._drop()
                    raise

    @staticmethod
    def _send(connection: smtplib.SMTP, message: EmailMessage) -> None:
        refused = connection.send_message(message)
        if refused:
            # Some recipients were accepted: raising would make the retry send them a copy again.
            logger.warning("SMTP server refused some recipients: %s", ", ".join(sorted(refused)))

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is None:
                return
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def __enter__(self) -> SMTPBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (written as such: no name is resolved,
    so a DNS answer cannot turn a remote host into a "local" one)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _connection_lost(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421  # "service not available, closing transmission channel"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in exc.recipients.values())
    return False


# -- Amazon SES -----------------------------------------------------------------------------


class _SESClient(Protocol):
    def send_raw_email(self, **kwargs: Any) -> Mapping[str, Any]: ...


class SESBackend:
    """Send through Amazon SES (``SendRawEmail``) with boto3.

    Credentials come from boto3's usual chain (environment, profile, instance role). SES
    must have the sender's address or domain verified in ``region``. Pass ``client`` to
    reuse a configured boto3 client (or a test double).
    """

    def __init__(
        self, region: str, *, client: Any | None = None, configuration_set: str | None = None
    ) -> None:
        if not region and client is None:
            raise ConfigurationError("SES: a region is required")
        self.region = region
        self.configuration_set = configuration_set
        if client is None:
            try:
                import boto3  # noqa: PLC0415 - optional extra
            except ImportError as exc:
                raise MissingExtraError("Amazon SES e-mail", "ses", "boto3") from exc
            client = boto3.client("ses", region_name=region)
        self._client = cast("_SESClient", client)

    def __repr__(self) -> str:
        return f"SESBackend({self.region!r})"

    def send(self, message: EmailMessage) -> None:
        destinations = _recipients(message)
        if not destinations:
            raise ValueError("the e-mail has no To, Cc or Bcc recipient")
        request: dict[str, Any] = {
            "Destinations": destinations,
            "RawMessage": {"Data": _without_bcc(message).as_bytes(policy=WIRE_POLICY)},
        }
        source = parseaddr(str(message.get("Sender") or message.get("From") or ""))[1]
        if source:
            request["Source"] = source
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        self._client.send_raw_email(**request)

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()


# -- file outbox ----------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class FileBackend:
    """Write each e-mail to ``outbox_dir`` as an RFC 5322 ``.eml`` file.

    Files are named ``<UTC time>-<id>.eml``, so a listing is in sending order. Each file is
    written under a hidden temporary name, flushed to disk and renamed into place, so a
    reader (or a crash) never sees half an e-mail.
    """

    def __init__(self, outbox_dir: str | os.PathLike[str] | None) -> None:
        # None is accepted (and refused) so that an unset configuration value gets a clear error.
        if outbox_dir is None or not str(outbox_dir):
            raise ConfigurationError("the file e-mail backend needs an outbox directory")
        self.outbox_dir = Path(outbox_dir)
        try:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"e-mail outbox {self.outbox_dir} cannot be created: {exc}", value=str(self.outbox_dir)
            ) from exc

    def __repr__(self) -> str:
        return f"FileBackend({str(self.outbox_dir)!r})"

    def _name(self, message: EmailMessage) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        local_part = str(message.get("Message-ID", "")).strip("<> ").partition("@")[0]
        token = _UNSAFE.sub("", local_part)[:16].strip(".") or secrets.token_hex(6)
        # Two sends of the same Message-ID within one microsecond must not overwrite each other.
        return f"{stamp}-{token}-{secrets.token_hex(2)}.eml"

    def send(self, message: EmailMessage) -> None:
        data = message.as_bytes(policy=WIRE_POLICY)
        target = self.outbox_dir / self._name(message)
        descriptor, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.outbox_dir)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.outbox_dir)

    def close(self) -> None:
        """Nothing to release."""


def _fsync_directory(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX; no-op elsewhere).
    if not hasattr(os, "O_DIRECTORY"):
        return
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- console --------------------------------------------------------------------------------


class ConsoleBackend:
    """Print each e-mail (its headers and plain-text part, decoded), for development.

    ``stream`` defaults to whatever ``sys.stdout`` is at the time of each send, so output
    redirection set up after construction (pytest's capture, a log wrapper) is honoured.
    """

    SEPARATOR = "-" * 79

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        # The text quotes producer fields (a budget name, an alarm text) that someone else
        # chose: shown on a terminal, their escape sequences are printed, not obeyed.
        text = "\n".join(terminal_safe(line) for line in _readable(message).rstrip().splitlines())
        with self._lock:
            stream.write(f"{text}\n{self.SEPARATOR}\n")
            stream.flush()

    def close(self) -> None:
        """Nothing to release (the stream belongs to the caller)."""


def _readable(message: EmailMessage) -> str:
    # Transfer encodings (quoted-printable, base64) are for the wire; a person reads the text.
    headers = "".join(f"{name}: {value}\n" for name, value in message.items())
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return message.as_string(policy=email.policy.default.clone(utf8=True))
    others = [
        part.get_content_type() for part in message.walk() if not part.is_multipart() and part is not body
    ]
    note = f"\n[also: {', '.join(others)}]\n" if others else ""
    return f"{headers}\n{body.get_content()}{note}"


# -- configuration --------------------------------------------------------------------------

#: The e-mail backends by name: the one vocabulary (the service's ``email.backend`` setting).
BACKEND_KINDS: Final = ("file", "smtp", "ses", "console")


# -- templates ------------------------------------------------------------------------------


def _import_jinja2() -> Any:
    try:
        import jinja2  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise MissingExtraError("E-mail templates", "email", "jinja2") from exc
    return jinja2


class Templates:
    """Jinja2 templates for e-mails: files in ``template_dir`` first, then the built-in ones.

    To change one part of an e-mail, copy that file from ``sns_subscriber/templates`` into
    ``template_dir`` and edit it; the other parts keep using the built-in files. ``.html.j2``
    templates are autoescaped (alert text is data from outside); ``.txt.j2`` ones are not.
    An undefined variable is an error rather than an empty string, so a typo in a custom
    template fails loudly instead of sending an e-mail with a hole in it.
    """

    PACKAGE = "sns_subscriber"
    PACKAGE_DIR = "templates"

    def __init__(self, template_dir: str | os.PathLike[str] | None = None) -> None:
        jinja = _import_jinja2()
        self.template_dir = Path(template_dir) if template_dir is not None else None
        loaders: list[jinja2.BaseLoader] = []
        if self.template_dir is not None:
            if not self.template_dir.is_dir():
                raise ConfigurationError(
                    f"e-mail template directory {self.template_dir} does not exist",
                    value=str(self.template_dir),
                )
            loaders.append(jinja.FileSystemLoader(self.template_dir))
        loaders.append(jinja.PackageLoader(self.PACKAGE, self.PACKAGE_DIR))
        self.environment: jinja2.Environment = jinja.Environment(
            loader=jinja.ChoiceLoader(loaders),
            autoescape=jinja.select_autoescape(
                enabled_extensions=("html.j2", "html", "htm", "xml"),
                disabled_extensions=("txt.j2", "subject.j2", "txt"),
                default_for_string=False,
                default=False,
            ),
            undefined=jinja.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def __repr__(self) -> str:
        return f"Templates({str(self.template_dir) if self.template_dir else None!r})"

    def get(self, name: str) -> jinja2.Template:
        """Load (and compile) ``name``; ``ConfigurationError`` if missing or invalid."""
        jinja = _import_jinja2()
        try:
            return self.environment.get_template(name)
        except jinja.TemplateError as exc:
            raise ConfigurationError(f"e-mail template {name!r}: {exc}", value=name) from exc

    def from_string(self, source: str) -> jinja2.Template:
        """Compile a template given as text (never autoescaped)."""
        jinja = _import_jinja2()
        try:
            return self.environment.from_string(source)
        except jinja.TemplateError as exc:
            raise ConfigurationError(f"e-mail template text: {exc}", value=source) from exc

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.get(name).render(context)
