"""Build the running parts from a :class:`~sns_subscriber.service.config.Config`.

Framework-free on purpose: ``serve``, ``worker`` and the CLI's inbox commands all assemble
the same store, verifiers, subscribers, router and worker from the same file.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..alerts import RejectionCounter
from ..confirmation import Confirmer
from ..delivery import Delivery
from ..exceptions import ConfigurationError
from ..retention import RetentionJob, RetentionPolicy, TombstoneWindow
from ..routing import Router
from ..subscriber import AsyncSubscriber, BasicAuth, Subscriber
from ..verification import AsyncVerifier, InsecurePolicyWarning, VerificationPolicy, Verifier
from ..worker import RetryPolicy, Worker
from .aws import configured_confirmer, localstack_hosts
from .config import Config, EndpointConfig

if TYPE_CHECKING:
    from ..stores import InboxStore

__all__ = ["Runtime", "build_runtime", "open_configured_store", "retention_policy", "tombstone_window"]

#: Seconds between the worker's retention runs (each deletes a bounded number of batches).
RETENTION_EVERY: float = 60.0

logger = logging.getLogger("sns_subscriber")


def open_configured_store(config: Config) -> InboxStore:
    from ..stores import open_store  # noqa: PLC0415 - stores import drivers lazily anyway

    options: dict[str, Any] = {"max_pending": config.get("store.max_pending")}
    if config.store_url.startswith("sqlite:"):
        options["synchronous"] = config.get("store.synchronous").upper()
    return open_store(config.store_url, **options)


def _policy(config: Config, endpoint: EndpointConfig) -> VerificationPolicy:
    return VerificationPolicy(
        allowed_topic_arns=endpoint.topics,
        max_age=timedelta(seconds=config.get("verification.max_age_seconds")),
        clock_skew=timedelta(seconds=config.get("verification.clock_skew_seconds")),
        signature_versions=frozenset(config.get("verification.signature_versions")),
    )


def tombstone_window(config: Config) -> TombstoneWindow:
    """How long MessageIds must outlive their messages under this configuration's policy."""
    return TombstoneWindow.for_ages(
        timedelta(seconds=config.get("verification.max_age_seconds")),
        timedelta(seconds=config.get("verification.clock_skew_seconds")),
    )


def retention_policy(config: Config) -> RetentionPolicy:
    done: float = config.get("store.retention_days")
    dead: float = config.get("store.dead_retention_days")
    return RetentionPolicy(
        done_days=done or None, dead_days=dead or None, tombstones=tombstone_window(config)
    )


def _basic_auth(config: Config, endpoint: EndpointConfig) -> BasicAuth | None:
    if endpoint.basic_auth_username is None:
        return None
    password = config.secret(endpoint.basic_auth_password_env)
    if not password:
        raise ConfigurationError(
            f"{config.source}: endpoint {endpoint.path} sets basic_auth_username but the variable "
            f"named by basic_auth_password_env ({endpoint.basic_auth_password_env}) is empty or unset",
            value=endpoint.path,
        )
    return BasicAuth(endpoint.basic_auth_username, password)


def log_action(delivery: Delivery) -> None:
    """The ``log`` action: one line per message with its producer model."""
    logger.info(
        "message %s from %s: %s", delivery.message_id, delivery.topic_arn, type(delivery.event).__name__
    )


@dataclass
class Runtime:
    config: Config
    store: InboxStore
    router: Router
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    async_subscribers: dict[str, AsyncSubscriber] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    #: Sends due budget digests (a DigestSender) when an owner has ``digest`` set; else None.
    digests: Any = None
    #: Signature failures (403) of this process, flushed to the store by the alert loop.
    rejections: RejectionCounter | None = None

    def worker(self, **options: Any) -> Worker:
        """A worker for this configuration; its run loop also enforces retention."""
        config = self.config
        job = Worker(
            self.store,
            self.router,
            batch_size=config.get("worker.batch_size"),
            lease_seconds=config.get("worker.lease_seconds"),
            poll_interval=config.get("worker.poll_interval_seconds"),
            retry=RetryPolicy(
                max_attempts=config.get("worker.max_attempts"),
                base_delay=config.get("worker.base_delay_seconds"),
                max_delay=config.get("worker.max_delay_seconds"),
            ),
            producers={e.path: e.producer for e in config.endpoints if e.producer}
            | {q.endpoint: q.producer for q in config.queues if q.producer},
            **options,
        )
        job.add_periodic(RetentionJob(self.store, retention_policy(config)), every=RETENTION_EVERY)
        return job

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # closing must go on for the others
                logger.exception("error while closing")
        self.store.close()


def _trusted_hosts(config: Config) -> frozenset[str]:
    hosts = localstack_hosts(config)
    if hosts:
        warnings.warn(
            "localstack.enabled trusts LocalStack's certificate and SubscribeURL host; never use it in production",
            InsecurePolicyWarning,
            stacklevel=2,
        )
    return hosts


def build_actions(
    config: Config, router: Router, closers: list[Callable[[], None]], store: InboxStore | None = None
) -> Any:
    """Register each endpoint's and queue's configured actions as handlers on ``router``;
    return the digest sender when budget digests are configured (it needs ``store``)."""
    cache: dict[str, Any] = {"store": store}
    receivers = [(e.path, e.actions) for e in config.endpoints] + [
        (q.endpoint, q.actions) for q in config.queues
    ]
    for name, actions in receivers:
        for action in actions:
            if action == "log":
                handler: Callable[[Delivery], Any] = log_action
            else:
                from .actions import make_action  # noqa: PLC0415 - pulls in jinja2 etc.

                handler = make_action(action, config, cache, closers)
            router.add(handler, endpoint=name, name=f"{name}:{action}")
    return cache.get("digest-sender")


def build_runtime(config: Config, *, store: InboxStore | None = None, with_actions: bool = True) -> Runtime:
    """Open the store and build one subscriber pair (sync + async) per endpoint."""
    if not config.endpoints and not config.queues:
        raise ConfigurationError(
            f"{config.source}: no [[endpoints]] or [[queues]] configured", value="endpoints"
        )
    trusted = _trusted_hosts(config)
    runtime = Runtime(config, store or open_configured_store(config), Router())
    runtime.rejections = RejectionCounter(e.path for e in config.endpoints)
    if with_actions:
        runtime.digests = build_actions(config, runtime.router, runtime.closers, runtime.store)
    cert_dir = config.path("verification.cert_dir")
    # One certificate cache for every verifier: one download ration and one known-URL file.
    shared_cache: dict[str, Any] = {"known_urls_file": config.path("verification.known_urls_file")}
    for endpoint in config.endpoints:
        policy = _policy(config, endpoint)
        common: dict[str, Any] = {
            "cert_dir": cert_dir,
            "fetch": config.get("verification.fetch"),
            "fetch_timeout": config.get("verification.fetch_timeout_seconds"),
        }
        confirmer: Confirmer = configured_confirmer(config, endpoint.confirm, trusted)
        options: dict[str, Any] = {
            "endpoint": endpoint.path,
            "confirmer": confirmer,
            "basic_auth": _basic_auth(config, endpoint),
            "allow_raw_delivery": endpoint.allow_raw_delivery,
            "max_body_bytes": config.get("verification.max_body_bytes"),
        }
        if trusted:
            common["trusted_url_hosts"] = trusted
        sync_verifier = Verifier(policy, **common, **shared_cache)
        shared_cache = {"cache": sync_verifier.cache}
        async_verifier = AsyncVerifier(policy, **common, **shared_cache)
        inline_worker = runtime.worker() if endpoint.inline else None
        runtime.subscribers[endpoint.path] = Subscriber(
            sync_verifier, runtime.store, **options, worker=inline_worker
        )
        runtime.async_subscribers[endpoint.path] = AsyncSubscriber(
            async_verifier, runtime.store, **options, worker=inline_worker
        )
    return runtime
