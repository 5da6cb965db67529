"""``sns-subscriber simulate``: a local SNS stand-in that signs like SNS and POSTs.

It signs with a development key whose certificate it writes into ``--cert-dir``; point the
service's ``verification.cert_dir`` at the same folder and it trusts these messages (and
still nothing else: the certificate is pinned by file name, the URL rules stay the same).
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..messages import TopicArn
from ..testing import SNSTestKit, samples


@dataclass
class _Target:
    endpoint: str
    topic: str
    version: str
    kit: SNSTestKit
    username: str | None
    password: str | None


def _post(target: _Target, fields: dict[str, Any], repeat: int) -> None:
    body = target.kit.body(fields)
    headers = target.kit.headers(fields)
    if target.username is not None:
        import base64  # noqa: PLC0415

        token = base64.b64encode(f"{target.username}:{target.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    failed = False
    for _ in range(repeat):
        request = urllib.request.Request(target.endpoint, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - user-given local URL
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise click.ClickException(
                f"cannot reach {target.endpoint}: {getattr(exc, 'reason', exc)}"
            ) from None
        click.echo(f"{fields['Type']} {fields['MessageId']} -> HTTP {status} {text.strip()}")
        failed = failed or not 200 <= status < 300
    if failed:
        raise SystemExit(1)


@click.group()
@click.option(
    "--endpoint", required=True, help="URL to POST to, e.g. http://127.0.0.1:8080/budget-subscriber."
)
@click.option("--topic", required=True, metavar="ARN", help="TopicArn of the simulated topic.")
@click.option("--signature-version", type=click.Choice(["1", "2"]), default="2", show_default=True)
@click.option("--cert-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("certs"), show_default=True,
              help="Folder for the development key and certificate (the service's verification.cert_dir).")  # fmt: skip
@click.option("--user", help="Basic-auth user (as in https://user:pass@host/ subscriptions).")
@click.option("--password", help="Basic-auth password.")
@click.pass_context
def simulate(
    ctx: click.Context, endpoint: str, topic: str, signature_version: str, cert_dir: Path,
    user: str | None, password: str | None,
) -> None:  # fmt: skip
    """Sign messages like SNS with a development key and POST them to an endpoint."""
    if TopicArn.parse(topic) is None:
        raise click.BadParameter("not an SNS topic ARN", param_hint="--topic")
    if not endpoint.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http(s) URL", param_hint="--endpoint")
    try:
        kit = SNSTestKit.load_or_create(cert_dir)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot use {cert_dir} for the development key: {exc}") from None
    ctx.obj = _Target(endpoint, topic, signature_version, kit, user, password)


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
def subscribe(target: _Target, repeat: int) -> None:
    """A SubscriptionConfirmation."""
    _post(
        target, target.kit.subscription_confirmation(target.topic, signature_version=target.version), repeat
    )


@simulate.command()
@_repeat
@click.pass_obj
def unsubscribe(target: _Target, repeat: int) -> None:
    """An UnsubscribeConfirmation."""
    _post(target, target.kit.unsubscribe_confirmation(target.topic, signature_version=target.version), repeat)


@simulate.command("topic-verified")
@_message_id
@_repeat
@click.pass_obj
def topic_verified(target: _Target, message_id: str | None, repeat: int) -> None:
    """The "SNS Topic Verified!" test notification of AWS Budgets."""
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
    target: _Target, budget_name: str, budgeted: str, threshold: str, actual: str | None, forecasted: str | None,
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
def cloudwatch_alarm(target: _Target, name: str, state: str, message_id: str | None, repeat: int) -> None:
    """A CloudWatch alarm state change."""
    subject, text = samples.cloudwatch_alarm(name=name, new_state=state)
    _post(target, _notification(target, subject, text, message_id), repeat)


@simulate.command()
@click.option("--subject")
@click.option("--message", "text", required=True, help="Message text (use @FILE to read a file).")
@_message_id
@_repeat
@click.pass_obj
def notification(
    target: _Target, subject: str | None, text: str, message_id: str | None, repeat: int
) -> None:
    """Any Notification."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint="--message") from None
    _post(target, _notification(target, subject, text, message_id), repeat)


__all__ = ["simulate"]
