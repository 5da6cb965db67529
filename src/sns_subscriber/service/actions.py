"""Build configured actions (``actions = [...]`` of an endpoint) from the configuration.

``budget-email`` e-mails each alert's owners (``[[budget_owners]]``, fallback
``email.fallback``); ``webhook:<name>`` and ``slack:<name>`` forward to a ``[[webhooks]]``
entry (its ``format`` may be json, slack or teams). One e-mail backend is shared by every endpoint, so SMTP connections are reused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..actions.webhook import WebhookAction
from ..delivery import Delivery
from ..exceptions import ConfigurationError
from ..pacing import Pacer
from .config import Config

__all__ = ["make_action"]

Handler = Callable[[Delivery], Any]

logger = logging.getLogger("sns_subscriber.service.actions")


def _email_backend(config: Config, cache: dict[str, Any], closers: list[Callable[[], None]]) -> Any:
    if "email-backend" in cache:
        return cache["email-backend"]
    from ..actions.email import ConsoleBackend, FileBackend, SESBackend, SMTPBackend  # noqa: PLC0415

    kind = config.get("email.backend")
    backend: Any
    if kind == "file":
        outbox = config.path("email.outbox_dir")
        if outbox is None:
            raise ConfigurationError(
                f'{config.source}: email.backend = "file" needs email.outbox_dir', value="email.outbox_dir"
            )
        backend = FileBackend(outbox)
    elif kind == "smtp":
        backend = SMTPBackend(
            config.get("email.smtp_host"),
            config.get("email.smtp_port"),
            starttls=config.get("email.smtp_starttls"),
            ssl=config.get("email.smtp_ssl"),
            username=config.get("email.smtp_username"),
            password=config.secret(config.get("email.smtp_password_env")),
        )
    elif kind == "ses":
        region = config.get("email.ses_region")
        if not region:
            raise ConfigurationError(
                f'{config.source}: email.backend = "ses" needs email.ses_region', value="email.ses_region"
            )
        backend = SESBackend(region)
    else:  # "console": config.py checked the name against BACKEND_KINDS
        backend = ConsoleBackend()
    cache["email-backend"] = backend
    closers.append(backend.close)
    return backend


def _budget_email(config: Config, cache: dict[str, Any], closers: list[Callable[[], None]]) -> Handler:
    from ..actions.budget_email import BudgetEmailAction  # noqa: PLC0415 - jinja2 is an optional extra
    from ..actions.email import Templates  # noqa: PLC0415
    from ..actions.owners import BudgetOwner, ConfigOwnerResolver, Recipient  # noqa: PLC0415

    owners = [
        BudgetOwner(
            budget=t["budget"], email=t["email"], name=t["name"], account=t["account"], digest=t["digest"]
        )
        for t in config.tables["budget_owners"]
    ]
    fallback = [Recipient(email=address) for address in config.get("email.fallback")]
    owner_tag = config.get("budgets.owner_tag")
    if not owners and not fallback and not owner_tag and "warned-no-owner" not in cache:
        cache["warned-no-owner"] = True
        logger.warning(
            "%s: the budget-email action has no owner ([[budget_owners]], budgets.owner_tag) and no "
            "email.fallback: every budget alert will reach nobody",
            config.source,
        )
    template_dir = config.path("email.template_dir")
    templates = Templates(template_dir) if template_dir is not None else None
    resolver: Any = ConfigOwnerResolver(owners, fallback=fallback)
    if owner_tag:
        resolver = _budget_tags(config, cache, resolver)
    backend = _email_backend(config, cache, closers)
    action = BudgetEmailAction(backend, resolver, sender=config.get("email.from"), templates=templates)
    store = cache.get("store")
    if store is not None and any(owner.digest for owner in owners):
        from ..actions.budget_digest import DigestQueue, DigestSender  # noqa: PLC0415

        hour, weekday = config.get("budgets.digest_hour"), config.get("budgets.digest_weekday")
        action.digests = DigestQueue(store, hour=hour, weekday=weekday)
        cache.setdefault(
            "digest-sender", DigestSender(store, backend, sender=action.sender, templates=templates)
        )
    return action


def _budget_tags(config: Config, cache: dict[str, Any], fallback: Any = None) -> Any:
    """A budget tag reader; every action that reads tags shares one client and one cache."""
    from ..actions.budget_tags import BudgetTagOwners, budgets_client_factory  # noqa: PLC0415
    from ..actions.owners import ConfigOwnerResolver  # noqa: PLC0415

    tags = cache.get("budget-tags")
    if tags is None:
        # The integrator's [aws] section may pass region/endpoint_url (LocalStack) here.
        tags = cache["budget-tags"] = BudgetTagOwners(
            budgets_client_factory(),
            ConfigOwnerResolver([]),
            owner_tag=config.get("budgets.owner_tag") or "owner",
            cc_tag=config.get("budgets.cc_tag"),
            ttl=config.get("budgets.tag_cache_seconds"),
            max_entries=config.get("budgets.tag_cache_entries"),
        )
    return tags if fallback is None else tags.sharing(fallback)


def _budget_slack(config: Config, cache: dict[str, Any]) -> Handler:
    from ..actions.budget_slack import BudgetSlackAction  # noqa: PLC0415

    tag = config.get("budgets.slack_tag")
    if not tag:
        raise ConfigurationError(
            f"{config.source}: the budget-slack action needs budgets.slack_tag", value="budget-slack"
        )
    destinations = {}
    for entry in config.tables["webhooks"]:
        action = _webhook("webhook", entry["name"], config, cache)
        assert isinstance(action, WebhookAction)
        destinations[entry["name"]] = action
    return BudgetSlackAction(_budget_tags(config, cache), tag, destinations)


def _anomaly_email(config: Config, cache: dict[str, Any], closers: list[Callable[[], None]]) -> Handler:
    from ..actions.anomaly_email import AnomalyEmailAction, AnomalyOwner, AnomalyOwnerResolver  # noqa: PLC0415
    from ..actions.budget_email import sender_address  # noqa: PLC0415
    from ..actions.email import Templates  # noqa: PLC0415
    from ..actions.owners import Recipient  # noqa: PLC0415

    owners = [
        AnomalyOwner(email=t["email"], name=t["name"], account=t["account"], monitor=t["monitor"])
        for t in config.tables["anomaly_owners"]
    ]
    fallback = [Recipient(email=address) for address in config.get("email.fallback")]
    if not owners and not fallback:
        logger.warning(
            "%s: the anomaly-email action has no [[anomaly_owners]] and no email.fallback: "
            "every cost anomaly will reach nobody",
            config.source,
        )
    template_dir = config.path("email.template_dir")
    return AnomalyEmailAction(
        _email_backend(config, cache, closers),
        AnomalyOwnerResolver(owners, fallback=fallback),
        sender=sender_address(config.get("email.from")),
        templates=Templates(template_dir) if template_dir is not None else None,
    )


def _webhook(kind: str, name: str, config: Config, cache: dict[str, Any]) -> Handler:
    entry = next((t for t in config.tables["webhooks"] if t["name"] == name), None)
    if entry is None:
        raise ConfigurationError(
            f"{config.source}: action {kind}:{name} names no [[webhooks]] entry", value=name
        )
    secret = config.secret(entry["secret_env"])
    if entry["secret_env"] and not secret:
        raise ConfigurationError(
            f"{config.source}: webhook {name}: the variable {entry['secret_env']} named by secret_env is unset",
            value=name,
        )
    if not entry["rate_per_second"] > 0:
        raise ConfigurationError(
            f"{config.source}: webhook {name}: rate_per_second must be above 0", value=name
        )
    # One pacer per destination, shared by every endpoint that posts to it.
    pacer = cache.setdefault(f"pacer:{name}", Pacer(entry["rate_per_second"]))
    return WebhookAction(
        entry["url"],
        format="slack" if kind == "slack" else entry["format"],
        secret=secret,
        timeout=entry["timeout_seconds"],
        producers=frozenset(entry["producers"]),
        pacer=pacer,
        max_wait=entry["max_wait_seconds"],
    )


def make_action(
    action: str, config: Config, cache: dict[str, Any], closers: list[Callable[[], None]]
) -> Handler:
    if action == "budget-email":
        return _budget_email(config, cache, closers)
    if action == "budget-slack":
        return _budget_slack(config, cache)
    if action == "anomaly-email":
        return _anomaly_email(config, cache, closers)
    kind, _, name = action.partition(":")
    if kind in ("webhook", "slack") and name:
        return _webhook(kind, name, config, cache)
    raise ConfigurationError(
        f"{config.source}: unknown action {action!r} (use log, budget-email, budget-slack, anomaly-email, webhook:<name> or slack:<name>)",
        value=action,
    )
