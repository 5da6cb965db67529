"""``sns-subscriber simulate``: a local SNS stand-in that signs like SNS and POSTs.

It signs with a development key whose certificate it writes into ``--cert-dir``; point the
service's ``verification.cert_dir`` at the same folder and it trusts these messages (and
still nothing else: the certificate is pinned by file name, the URL rules stay the same).
``--config`` takes the endpoint URL, the topic and the certificate folder from the service's
own configuration file, so the three always agree with what the service expects.

The group's options are only checked when a message is sent, so ``simulate budget-alert
--help`` works without them.
The key itself is kept beside that folder, never in it, readable by its owner only
(``var/certs`` -> ``var/certs.dev-key.pem``, see ``SNSTestKit.load_or_create``).
"""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..exceptions import SNSSubscriberError
from ..messages import TopicArn
from ..testing import SNSTestKit, samples

DEFAULT_CERT_DIR = Path("var/certs")  # the example configuration's verification.cert_dir
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - a bind address, mapped to loopback to connect


@dataclass
class _Options:
    """The group's options as given; checked by :func:`_target` when a message is sent."""

    endpoint: str | None
    topic: str | None
    version: str
    cert_dir: Path | None
    config_path: Path | None
    path: str | None
    wait: bool
    wait_timeout: float
    username: str | None
    password: str | None


@dataclass
class _Target:
    endpoint: str
    topic: str
    version: str
    kit: SNSTestKit
    cert_dir: Path
    username: str | None
    password: str | None
    store_url: str | None  # set with --wait: where to watch the message being processed
    wait_timeout: float


def _from_config(options: _Options) -> tuple[str, str | None, Path | None, str]:
    """Endpoint URL, topic, cert dir and store URL from the service's configuration file."""
    from ..service.config import load_config  # noqa: PLC0415

    assert options.config_path is not None
    try:
        config = load_config(options.config_path)
    except SNSSubscriberError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None
    endpoints = config.endpoints
    if not endpoints:
        raise click.ClickException(f"{config.source} declares no [[endpoints]]")
    if options.path is not None:
        endpoints = tuple(e for e in endpoints if e.path == options.path)
        if not endpoints:
            known = ", ".join(e.path for e in config.endpoints)
            raise click.BadParameter(
                f"{options.path} is not a configured endpoint ({known})", param_hint="--path"
            )
    elif len(endpoints) > 1:
        known = ", ".join(e.path for e in endpoints)
        raise click.UsageError(f"{config.source} has several endpoints ({known}): choose one with --path")
    endpoint = endpoints[0]
    host = str(config.get("service.host"))
    host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{config.get('service.port')}{endpoint.path}"
    # A pattern ("arn:...:*") cannot be a message's TopicArn: the first exact ARN is used.
    topic = next((t for t in endpoint.topics if "*" not in t), None)
    return url, topic, config.path("verification.cert_dir"), config.store_url


def _target(options: _Options) -> _Target:
    endpoint, topic, cert_dir = options.endpoint, options.topic, options.cert_dir
    store_url = None
    if options.config_path is not None:
        url, config_topic, config_cert_dir, store_url = _from_config(options)
        endpoint = endpoint or url
        topic = topic or config_topic
        cert_dir = cert_dir or config_cert_dir
    elif options.wait:
        raise click.UsageError("--wait needs --config: it watches the service's store")
    if endpoint is None:
        raise click.UsageError("give --config FILE (the service's configuration) or --endpoint URL")
    if topic is None:
        raise click.UsageError("give --topic ARN (the configuration has no exact topic ARN)")
    if TopicArn.parse(topic) is None:
        raise click.BadParameter("not an SNS topic ARN", param_hint="--topic")
    if not endpoint.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http(s) URL", param_hint="--endpoint")
    cert_dir = cert_dir or DEFAULT_CERT_DIR
    try:
        kit = SNSTestKit.load_or_create(cert_dir)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot use {cert_dir} for the development key: {exc}") from None
    return _Target(
        endpoint, topic, options.version, kit, cert_dir, options.username, options.password,
        store_url if options.wait else None, options.wait_timeout,
    )  # fmt: skip


def _hint(target: _Target, status: int, text: str) -> str | None:
    """What to do about an answer that means the simulation is set up wrong."""
    if status == 503 and "certificate_fetch_failed" in text:
        return (
            f"the service does not have the development certificate pinned: simulate wrote it to "
            f"{target.cert_dir}, so the service's verification.cert_dir must be that folder "
            f"(or run simulate --config with the service's configuration file)"
        )
    if status == 403 and "topic_not_allowed" in text:
        return f"{target.topic} is not in the endpoint's topics (use --topic, or --config)"
    return None


def _post(target: _Target, fields: dict[str, Any], repeat: int) -> None:
    body = target.kit.body(fields)
    headers = target.kit.headers(fields)
    if target.username is not None:
        token = base64.b64encode(f"{target.username}:{target.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    failed = False
    hint = None
    for _ in range(repeat):
        request = urllib.request.Request(target.endpoint, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - user-given local URL
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise click.ClickException(
                f"cannot reach {target.endpoint}: {getattr(exc, 'reason', exc)} (is the service running?)"
            ) from None
        click.echo(f"{fields['Type']} {fields['MessageId']} -> HTTP {status} {text.strip()}")
        failed = failed or not 200 <= status < 300
        hint = hint or _hint(target, status, text)
    if hint is not None:
        click.echo(f"hint: {hint}", err=True)
    if failed:
        raise SystemExit(1)
    if target.store_url is not None and fields["Type"] == "Notification":
        _wait_until_processed(target, str(fields["MessageId"]))


def _wait_until_processed(target: _Target, message_id: str) -> None:
    """Poll the service's store until the worker is finished with ``message_id``."""
    from ..stores import InboxStatus, open_store  # noqa: PLC0415

    assert target.store_url is not None
    deadline = time.monotonic() + target.wait_timeout
    try:
        store = open_store(target.store_url)
    except SNSSubscriberError as exc:
        raise click.ClickException(f"cannot open the service's store to wait: {exc}") from None
    try:
        while True:
            record = store.get(message_id)
            if record is not None and record.status in (InboxStatus.DONE, InboxStatus.DEAD):
                break
            if time.monotonic() >= deadline:
                state = record.status if record is not None else "not stored"
                raise click.ClickException(
                    f"{message_id} is still {state} after {target.wait_timeout:g} s "
                    f"(is a worker running? `serve` runs one unless service.worker = false)"
                )
            time.sleep(0.1)
    finally:
        store.close()
    if record.status is InboxStatus.DEAD:
        click.echo(f"{message_id} processed: dead ({record.last_error or 'no error recorded'})")
        raise SystemExit(1)
    click.echo(f"{message_id} processed: done")


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The service's configuration: endpoint URL, topic and --cert-dir come from it.")  # fmt: skip
@click.option("--path", help="With --config and several endpoints: the endpoint's path.")
@click.option("--endpoint", help="URL to POST to, e.g. http://127.0.0.1:8080/budget-subscriber.")
@click.option("--topic", metavar="ARN", help="TopicArn of the simulated topic.")
@click.option("--signature-version", type=click.Choice(["1", "2"]), default="2", show_default=True)
@click.option("--cert-dir", type=click.Path(file_okay=False, path_type=Path),
              help=f"Folder for the development key and certificate (the service's verification.cert_dir) "
                   f"[default: verification.cert_dir with --config, else {DEFAULT_CERT_DIR}].")  # fmt: skip
@click.option("--wait", is_flag=True,
              help="After a Notification is accepted, wait until the service processed it (needs --config).")  # fmt: skip
@click.option(
    "--wait-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="SECONDS"
)
@click.option("--user", help="Basic-auth user (as in https://user:pass@host/ subscriptions).")
@click.option("--password", help="Basic-auth password.")
@click.pass_context
def simulate(
    ctx: click.Context, config_path: Path | None, path: str | None, endpoint: str | None, topic: str | None,
    signature_version: str, cert_dir: Path | None, wait: bool, wait_timeout: float,
    user: str | None, password: str | None,
) -> None:  # fmt: skip
    """Sign messages like SNS with a development key and POST them to an endpoint.

    \b
    sns-subscriber simulate --config examples/sns-subscriber.toml --wait budget-alert
    sns-subscriber simulate --endpoint URL --topic ARN --cert-dir DIR subscribe
    """
    ctx.obj = _Options(
        endpoint, topic, signature_version, cert_dir, config_path, path, wait, wait_timeout, user, password
    )


def _notification(
    target: _Target, subject: str | None, message: str, message_id: str | None
) -> dict[str, Any]:
    return target.kit.notification(
        target.topic, message, subject=subject, message_id=message_id or str(uuid.uuid4()),
        signature_version=target.version,
    )  # fmt: skip


_repeat = click.option("--repeat", type=click.IntRange(1, 1000), default=1, show_default=True,
                       help="Deliver the same message this many times (SNS redelivery).")  # fmt: skip
# SNS MessageIds are UUIDs, and the receiver refuses anything else (parse checks the shape).
_message_id = click.option(
    "--message-id",
    type=click.UUID,
    callback=lambda _ctx, _param, value: str(value) if value is not None else None,
    help="MessageId, a UUID (default: a new one).",
)


@simulate.command()
@_repeat
@click.pass_obj
def subscribe(options: _Options, repeat: int) -> None:
    """A SubscriptionConfirmation."""
    target = _target(options)
    _post(
        target, target.kit.subscription_confirmation(target.topic, signature_version=target.version), repeat
    )


@simulate.command()
@_repeat
@click.pass_obj
def unsubscribe(options: _Options, repeat: int) -> None:
    """An UnsubscribeConfirmation."""
    target = _target(options)
    _post(target, target.kit.unsubscribe_confirmation(target.topic, signature_version=target.version), repeat)


@simulate.command("topic-verified")
@_message_id
@_repeat
@click.pass_obj
def topic_verified(options: _Options, message_id: str | None, repeat: int) -> None:
    """The "SNS Topic Verified!" test notification of AWS Budgets."""
    target = _target(options)
    subject, text = samples.topic_verified()
    _post(target, _notification(target, subject, text, message_id), repeat)


@simulate.command("budget-alert")
@click.option("--budget-name", default="team-a-prod", show_default=True)
@click.option("--budgeted", default="100.00", show_default=True, help="Budgeted amount.")
@click.option("--threshold", default="90", show_default=True, help="Threshold, percent of the budget.")
@click.option("--actual", help="Actual amount (ACTUAL alert).")
@click.option("--forecasted", help="Forecasted amount (FORECASTED alert).")
@click.option(
    "--period",
    type=click.Choice(["daily", "monthly", "quarterly", "annually"]),
    default="monthly",
    show_default=True,
)
@click.option("--account", default="123456789012", show_default=True)
@_message_id
@_repeat
@click.pass_obj
def budget_alert(
    options: _Options, budget_name: str, budgeted: str, threshold: str, actual: str | None, forecasted: str | None,
    period: str, account: str, message_id: str | None, repeat: int,
) -> None:  # fmt: skip
    """An AWS Budgets threshold alert, worded exactly like AWS's."""
    if actual is not None and forecasted is not None:
        raise click.UsageError("give --actual or --forecasted, not both")
    from decimal import Decimal, InvalidOperation  # noqa: PLC0415

    try:
        values = [Decimal(v) for v in (budgeted, threshold, actual or forecasted or "95.12")]
    except InvalidOperation:
        raise click.BadParameter("amounts and threshold must be numbers") from None
    target = _target(options)
    subject, text = samples.budget_alert(
        budget_name=budget_name, budgeted=values[0], threshold_percent=values[1], amount=values[2],
        alert_type="FORECASTED" if forecasted is not None else "ACTUAL", period=period, account_id=account,
    )  # fmt: skip
    _post(target, _notification(target, subject, text, message_id), repeat)


@simulate.command("cloudwatch-alarm")
@click.option("--name", default="high-cpu", show_default=True)
@click.option(
    "--state", type=click.Choice(["ALARM", "OK", "INSUFFICIENT_DATA"]), default="ALARM", show_default=True
)
@_message_id
@_repeat
@click.pass_obj
def cloudwatch_alarm(options: _Options, name: str, state: str, message_id: str | None, repeat: int) -> None:
    """A CloudWatch alarm state change."""
    target = _target(options)
    subject, text = samples.cloudwatch_alarm(name=name, new_state=state)
    _post(target, _notification(target, subject, text, message_id), repeat)


@simulate.command()
@click.option("--subject")
@click.option("--message", "text", required=True, help="Message text (use @FILE to read a file).")
@_message_id
@_repeat
@click.pass_obj
def notification(
    options: _Options, subject: str | None, text: str, message_id: str | None, repeat: int
) -> None:
    """Any Notification."""
    target = _target(options)
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint="--message") from None
    _post(target, _notification(target, subject, text, message_id), repeat)


__all__ = ["simulate"]
