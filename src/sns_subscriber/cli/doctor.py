"""``sns-subscriber doctor``: check what the service depends on, before SNS finds out.

Each check prints one line (``OK``, a note, or a problem in capitals); the exit status is 1
when any check found a problem. Nothing printed holds a secret: URLs go through
:func:`~sns_subscriber.redaction.redact_url`, strings from stored messages through
:func:`~sns_subscriber.redaction.terminal_safe`.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import stat
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ..exceptions import ConfigurationError, SNSSubscriberError
from ..messages import TopicArn
from ..redaction import redact_url, redact_urls_in, terminal_safe
from ..routing import Router
from ..service.config import Config
from ..service.runtime import build_actions, build_runtime, open_configured_store
from ..verification import InsecurePolicyWarning
from .common import config_option, load, one_line_errors

if TYPE_CHECKING:
    from ..producers.budgets import BudgetAlert
    from ..stores import InboxStore

__all__ = ["doctor"]

#: How many recent inbox messages the budget-recipient check reads.
RECENT_MESSAGES: Final = 500
TIMEOUT: Final = 5.0


class _Report:
    def __init__(self) -> None:
        self.problems = 0

    def ok(self, line: str) -> None:
        click.echo(line)

    def problem(self, line: str) -> None:
        self.problems += 1
        click.echo(line)


@click.command()
@config_option
@click.option("--offline", is_flag=True, help="Skip every network check (certificate host, e-mail server).")
@one_line_errors
def doctor(config_path: Path, offline: bool) -> None:
    """Check the configuration, the store, the certificate host and the e-mail backend."""
    config = load(config_path)
    report = _Report()
    report.ok(f"config: {config.source} OK")
    store = _open_store(config, report)
    closers: list[Callable[[], None]] = [] if store is None else [store.close]  # close() is idempotent
    try:
        with warnings.catch_warnings():
            # LocalStack mode warns when the runtime is built; doctor reports that mode itself.
            warnings.simplefilter("ignore", InsecurePolicyWarning)
            if store is None:  # still build every action, so their configuration is checked
                build_actions(config, Router(), closers)
            else:
                closers.append(build_runtime(config, store=store).close)
        _list_endpoints(config, report)
        _check_certificates(config, report, offline=offline)
        _check_email(config, report, offline=offline)
        _check_budget_recipients(config, store, report)
    finally:
        for close in reversed(closers):
            close()
    if report.problems:
        raise SystemExit(1)


def _open_store(config: Config, report: _Report) -> InboxStore | None:
    where = redact_url(config.store_url)
    try:
        store = open_configured_store(config)
    except ConfigurationError:
        raise
    except SNSSubscriberError as exc:
        report.problem(f"store: {where} UNAVAILABLE: {redact_urls_in(exc.reason)}")
        return None
    try:
        store.ping()
        counts = store.counts()
    except SNSSubscriberError as exc:
        store.close()
        report.problem(f"store: {where} UNAVAILABLE: {redact_urls_in(exc.reason)}")
        return None
    report.ok(f"store: {where} OK ({sum(counts.values())} message(s))")
    _check_private_files(config, report)
    return store


def _check_private_files(config: Config, report: _Report) -> None:
    """A SQLite inbox made before files were created 0600 may still be readable by others
    (message bodies carry the UnsubscribeURL)."""
    url = config.store_url
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return
    database = Path(url[len("sqlite:///") :])
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            report.problem(f"store: {path} is mode {mode:04o}, readable by others: chmod 600 {path}")


def _list_endpoints(config: Config, report: _Report) -> None:
    for endpoint in config.endpoints:
        report.ok(
            f"endpoint {endpoint.path}: confirm={endpoint.confirm} actions={','.join(endpoint.actions) or '-'}"
        )
        for topic in endpoint.topics:
            report.ok(f"  topic {topic}")


def _check_certificates(config: Config, report: _Report, *, offline: bool) -> None:
    cert_dir = config.path("verification.cert_dir")
    if cert_dir is not None:
        pems = sorted(p.name for p in cert_dir.glob("SimpleNotificationService-*.pem"))
        report.ok(f"pinned certificates: {cert_dir} ({len(pems)} file(s))")
    if offline or not config.get("verification.fetch"):
        return
    if config.get("localstack.enabled"):
        _check_localstack(config.get("localstack.host"), report)
        return
    from ..fetch import https_get  # noqa: PLC0415

    for host in _sns_hosts(t for e in config.endpoints for t in e.topics):
        url = f"https://{host}/"
        try:
            response = https_get(url, timeout=TIMEOUT)
        except SNSSubscriberError as exc:
            report.problem(
                f"certificate host: {url} NOT reachable: {exc.reason} (pin certificates with verification.cert_dir)"
            )
        else:
            report.ok(f"certificate host: {url} reachable (HTTP {response.status})")


def _sns_hosts(topics: Iterable[str]) -> list[str]:
    """The SNS hosts of the configured topics' regions (certificates come from there)."""
    from ..certs import sns_host  # noqa: PLC0415

    hosts = {sns_host(arn) for arn in map(TopicArn.parse, topics) if arn is not None}
    return sorted(h for h in hosts if h) or ["sns.us-east-1.amazonaws.com"]


def _check_localstack(host: str, report: _Report) -> None:
    """In LocalStack mode certificates and confirmations come from LocalStack, never AWS."""
    from ..fetch import https_get  # noqa: PLC0415

    url = f"http://{host}/_localstack/health"
    try:
        response = https_get(url, timeout=TIMEOUT, allow_http=True, max_bytes=65_536)
    except SNSSubscriberError as exc:
        report.problem(f"LocalStack: {url} NOT reachable: {exc.reason} (is it running? localstack.host)")
        return
    try:
        services = json.loads(response.body).get("services", {})
        sns = services.get("sns") if isinstance(services, dict) else None
    except (ValueError, AttributeError):
        sns = None
    if response.status == 200 and sns in ("available", "running"):
        report.ok(f"LocalStack: {url} OK (sns {sns})")
    else:
        report.problem(
            f"LocalStack: {url} answered HTTP {response.status} but SNS is {terminal_safe(str(sns))} "
            "(start it with SERVICES=sns)"
        )


# -- e-mail -----------------------------------------------------------------------------------------


def _email_used(config: Config) -> bool:
    return any("budget-email" in e.actions for e in config.endpoints)


def _check_email(config: Config, report: _Report, *, offline: bool) -> None:
    kind = config.get("email.backend")
    if not _email_used(config):
        report.ok(f"e-mail: {kind} backend (no endpoint has a budget-email action)")
        return
    if kind == "file":
        outbox = config.path("email.outbox_dir")
        if outbox is not None and os.access(outbox, os.W_OK | os.X_OK):
            report.ok(f"e-mail: file backend, outbox {outbox} writable")
        else:
            report.problem(f"e-mail: file backend, outbox {outbox} NOT writable")
    elif kind == "console":
        report.ok("e-mail: console backend (printed, not sent)")
    elif offline:
        report.ok(f"e-mail: {kind} backend (not checked: --offline)")
    elif kind == "smtp":
        _check_smtp(config, report)
    else:
        _check_ses(config, report)


def _check_smtp(config: Config, report: _Report) -> None:
    host, port = config.get("email.smtp_host"), config.get("email.smtp_port")
    use_ssl, starttls = config.get("email.smtp_ssl"), config.get("email.smtp_starttls")
    where = f"smtp://{host}:{port}" + (" (TLS)" if use_ssl else "")
    context = ssl.create_default_context()
    try:
        connection = (
            smtplib.SMTP_SSL(host, port, local_hostname="localhost", timeout=TIMEOUT, context=context)
            if use_ssl
            else smtplib.SMTP(host, port, local_hostname="localhost", timeout=TIMEOUT)
        )
    except (OSError, smtplib.SMTPException) as exc:
        report.problem(f"e-mail: {where} NOT reachable: {exc}")
        return
    try:
        code, _ = connection.ehlo()
        offers_starttls = connection.has_extn("starttls")
        notes = [f"EHLO {code}", "STARTTLS offered" if offers_starttls else "no STARTTLS"]
        if starttls:
            if not offers_starttls:
                report.problem(f"e-mail: {where} does NOT offer STARTTLS, which email.smtp_starttls requires")
                return
            connection.starttls(context=context)
            connection.ehlo()
            notes.append("STARTTLS OK")
        if config.get("email.smtp_username") is not None:
            notes.append("AUTH offered" if connection.has_extn("auth") else "NO AUTH offered")
        report.ok(f"e-mail: {where} OK ({', '.join(notes)})")
    except (OSError, smtplib.SMTPException) as exc:
        report.problem(f"e-mail: {where} failed during EHLO/STARTTLS: {exc}")
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()


def _check_ses(config: Config, report: _Report) -> None:
    region = config.get("email.ses_region")
    sender = config.get("email.from")
    domain = sender.rpartition("@")[2]
    try:
        import boto3  # noqa: PLC0415 - optional extra

        client = boto3.client("ses", region_name=region)
        answer = client.get_identity_verification_attributes(Identities=[sender, domain])
    except ModuleNotFoundError:
        report.problem('e-mail: ses backend needs boto3: pip install "sns-subscriber[ses]"')
        return
    except Exception as exc:  # botocore raises many unrelated classes (credentials, network, API)
        report.problem(
            f"e-mail: SES in {region} NOT reachable: {type(exc).__name__}: {redact_urls_in(str(exc))}"
        )
        return
    attributes: dict[str, Any] = answer.get("VerificationAttributes", {})
    statuses = {
        name: attributes.get(name, {}).get("VerificationStatus", "NotStarted") for name in (sender, domain)
    }
    verified = [name for name, status in statuses.items() if status == "Success"]
    if verified:
        report.ok(f"e-mail: SES in {region}: sender {sender} OK (verified identity: {verified[0]})")
    else:
        found = ", ".join(f"{name} {status}" for name, status in statuses.items())
        report.problem(f"e-mail: SES in {region}: sender {sender} NOT verified ({found})")


# -- budget recipients ---------------------------------------------------------------------------


def _check_budget_recipients(config: Config, store: InboxStore | None, report: _Report) -> None:
    """Which budgets would e-mail nobody: no ``[[budget_owners]]`` match and no fallback
    (among the budget alerts recently stored, when the store is reachable)."""
    paths = {e.path for e in config.endpoints if "budget-email" in e.actions}
    if not paths:
        return
    from ..actions.owners import BudgetOwner, ConfigOwnerResolver, Recipient  # noqa: PLC0415

    owners = [
        BudgetOwner(budget=t["budget"], email=t["email"], name=t["name"], account=t["account"])
        for t in config.tables["budget_owners"]
    ]
    fallback = [Recipient(email=address) for address in config.get("email.fallback")]
    if fallback:
        report.ok(f"budget-email: {len(owners)} owner rule(s); email.fallback receives the rest")
        return
    if not owners:
        report.problem(
            "budget-email: no [[budget_owners]] and no email.fallback: every alert would e-mail nobody"
        )
        return
    if store is None:
        return
    resolver = ConfigOwnerResolver(owners)
    unresolved = sorted(
        {(a.budget_name or "?", a.account_id or "?") for a in _recent_alerts(store, paths) if not resolver(a)}
    )
    if not unresolved:
        report.ok(
            f"budget-email: {len(owners)} owner rule(s) match every budget in the last {RECENT_MESSAGES} messages"
        )
        return
    names = ", ".join(
        f"{terminal_safe(name)!r} (account {terminal_safe(account)})" for name, account in unresolved
    )
    report.problem(
        f"budget-email: UNRESOLVABLE recipients (no [[budget_owners]] match, no email.fallback) for: {names}"
    )


def _recent_alerts(store: InboxStore, paths: set[str]) -> list[BudgetAlert]:
    from ..messages import Notification, RawNotification  # noqa: PLC0415
    from ..parsing import parse  # noqa: PLC0415
    from ..producers import detect  # noqa: PLC0415
    from ..producers.budgets import BudgetAlert  # noqa: PLC0415

    alerts = []
    for record in store.list_messages(limit=RECENT_MESSAGES):
        if record.endpoint not in paths or record.message_type != "Notification":
            continue
        message: Notification | RawNotification
        if record.raw_delivery:
            text = record.body.decode("utf-8", "replace")
            message = RawNotification(
                message_id=record.message_id, topic_arn=record.topic_arn, message=text, raw=record.body
            )
        else:
            try:
                parsed = parse(record.body, max_bytes=max(len(record.body), 1))
            except SNSSubscriberError:
                continue
            if not isinstance(parsed, Notification):
                continue
            message = parsed
        event = detect(message)
        if isinstance(event, BudgetAlert):
            alerts.append(event)
    return alerts
