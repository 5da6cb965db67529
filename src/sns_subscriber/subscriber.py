"""The receiving pipeline: ``Subscriber.handle(InboundRequest) -> Outcome``.

request ─► method / basic auth / size ─► parse ─► verify ─► decide ─► persist ─► Outcome

Nothing is acknowledged before it is durable: a Notification is answered 200 only after the
store's group commit holding it has committed. Handlers run later, in the worker (or inline,
after persisting, when ``inline=True``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .confirmation import Confirmer, ConfirmResult, ManualConfirmer
from .exceptions import (
    AuthenticationRequiredError,
    ConfigurationError,
    ConfirmationError,
    MessageTooLargeError,
    TopicNotAllowedError,
    UnsupportedMessageError,
)
from .inbound import InboundRequest
from .messages import (
    Notification,
    RawNotification,
    SNSMessage,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
)
from .outcome import Outcome, outcome_for_error
from .parsing import DEFAULT_MAX_BODY_BYTES, HEADER_RAW, parse, parse_raw_delivery
from .verification import AsyncVerifier, Verifier

if TYPE_CHECKING:
    from .stores import InboxStore, NewMessage, SubscriptionEvent
    from .worker import Worker

__all__ = ["AsyncSubscriber", "BasicAuth", "Subscriber"]

logger = logging.getLogger("sns_subscriber")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Credentials SNS sends when the subscription URL is ``https://user:password@host/...``."""

    username: str
    password: str

    def __post_init__(self) -> None:
        if not self.username or not self.password or ":" in self.username:
            raise ConfigurationError("basic auth needs a username without ':' and a non-empty password")

    def check(self, header: str | None) -> bool:
        if not header or header[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{self.username}:{self.password}".encode()
        return hmac.compare_digest(decoded, expected)


class _Pipeline:
    def __init__(
        self,
        store: InboxStore,
        *,
        endpoint: str = "/",
        confirmer: Confirmer | None = None,
        basic_auth: BasicAuth | None = None,
        allow_raw_delivery: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        worker: Worker | None = None,
    ) -> None:
        if allow_raw_delivery and basic_auth is None:
            raise ConfigurationError(
                "allow_raw_delivery needs basic_auth: a raw delivery carries no signature, so only "
                "the credentials in the subscription URL can vouch for it"
            )
        self.store = store
        self.endpoint = endpoint
        self.confirmer: Confirmer = confirmer or ManualConfirmer()
        self.basic_auth = basic_auth
        self.allow_raw_delivery = allow_raw_delivery
        self.max_body_bytes = max_body_bytes
        #: With a worker, handlers run inline after persisting, before the answer.
        self.worker = worker
        # Imported here, once: stores are not part of `import sns_subscriber`.
        from .stores import NewMessage  # noqa: PLC0415

        self._new_message_type = NewMessage

    def _admit(self, request: InboundRequest) -> SNSMessage | RawNotification:
        """Everything decided from the request alone, in the order that costs least."""
        if request.method != "POST":
            raise _MethodNotAllowedError(request.method)
        if self.basic_auth is not None and not self.basic_auth.check(request.header("authorization")):
            raise AuthenticationRequiredError("HTTP basic authentication required")
        if len(request.body) > self.max_body_bytes:
            raise MessageTooLargeError(f"body is over the {self.max_body_bytes}-byte cap")
        if (request.header(HEADER_RAW) or "").strip().lower() == "true":
            if not self.allow_raw_delivery:
                raise UnsupportedMessageError(
                    "raw message delivery is not allowed on this endpoint (it cannot be verified); "
                    "disable RawMessageDelivery or configure basic auth and allow_raw_delivery"
                )
            return parse_raw_delivery(request.body, request.headers, max_bytes=self.max_body_bytes)
        return parse(request.body, request.headers, max_bytes=self.max_body_bytes)

    def _new_message(self, message: Notification | RawNotification) -> NewMessage:
        return self._new_message_type(
            message_id=message.message_id,
            endpoint=self.endpoint,
            topic_arn=message.topic_arn,
            message_type="Notification",
            subject=message.subject,
            body=message.raw,
            raw_delivery=isinstance(message, RawNotification),
        )

    def _subscription_event(
        self,
        message: SubscriptionConfirmation | UnsubscribeConfirmation,
        result: ConfirmResult | None,
        detail: str | None = None,
    ) -> SubscriptionEvent:
        from .stores import SubscriptionEvent, SubscriptionState  # noqa: PLC0415

        if isinstance(message, UnsubscribeConfirmation):
            state = SubscriptionState.UNSUBSCRIBED
        elif result is None:
            state = SubscriptionState.FAILED
        else:
            state = SubscriptionState.CONFIRMED if result.confirmed else SubscriptionState.PENDING
        return SubscriptionEvent(
            topic_arn=message.topic_arn,
            endpoint=self.endpoint,
            state=state,
            message_id=message.message_id,
            subscription_arn=result.subscription_arn if result else None,
            token=message.token,
            subscribe_url=message.subscribe_url,
            detail=detail or (result.method if result else None),
        )

    @staticmethod
    def _stored(message: Notification | RawNotification, inserted: bool) -> Outcome:
        # Per-message lines are DEBUG: at thousands of messages a second they would cost more
        # than storing the message; the inbox and the metrics count them.
        if inserted:
            logger.debug("accepted %s from %s", message.message_id, message.topic_arn)
            return Outcome.success("accepted", message_id=message.message_id)
        logger.debug("duplicate %s (already stored)", message.message_id)
        return Outcome.success("duplicate", message_id=message.message_id)

    @staticmethod
    def _unsubscribed(message: UnsubscribeConfirmation) -> Outcome:
        # Never visit SubscribeURL here: it would re-subscribe (reference §1.2).
        logger.warning(
            "endpoint was unsubscribed from %s (message %s)", message.topic_arn, message.message_id
        )
        return Outcome.success("unsubscribed", message_id=message.message_id)

    def _answer_error(self, exc: BaseException) -> Outcome:
        if isinstance(exc, _MethodNotAllowedError):
            return Outcome(
                405,
                "method_not_allowed",
                "SNS delivers with POST",
                {"content-type": "application/json", "allow": "POST"},
            )
        return outcome_for_error(exc)


class _MethodNotAllowedError(Exception):
    pass


class Subscriber(_Pipeline):
    """Receive SNS messages for one endpoint (synchronous frameworks: Flask, Django, WSGI).

    ``verifier`` decides authenticity and the topic allow-list; ``store`` is the durable
    inbox; ``confirmer`` confirms subscriptions (default: record them as pending).
    """

    def __init__(self, verifier: Verifier, store: InboxStore, **options: object) -> None:
        super().__init__(store, **options)  # type: ignore[arg-type]
        self.verifier = verifier

    def handle(self, request: InboundRequest) -> Outcome:
        try:
            message = self._admit(request)
            if isinstance(message, RawNotification):
                self._check_raw_topic(message)
                return self._persist(message)
            self.verifier.verify(message, client=request.remote_addr)
            if isinstance(message, Notification):
                return self._persist(message)
            if isinstance(message, SubscriptionConfirmation):
                return self._confirm(message)
            self.store.record_subscription(self._subscription_event(message, None))
            return self._unsubscribed(message)
        except Exception as exc:
            return self._answer_error(exc)

    def _check_raw_topic(self, message: RawNotification) -> None:
        if not self.verifier.policy.topic_allowed(message.topic_arn):
            raise TopicNotAllowedError("topic is not in this endpoint's allow-list", value=message.topic_arn)

    def _persist(self, message: Notification | RawNotification) -> Outcome:
        inserted = self.store.add(self._new_message(message))
        if inserted and self.worker is not None:
            self._run_inline(message.message_id)
        return self._stored(message, inserted)

    def _run_inline(self, message_id: str) -> None:
        assert self.worker is not None
        try:
            self.worker.run_once()
        except Exception:  # stored already: the background worker will pick it up
            logger.exception("inline processing of %s failed; it stays in the inbox", message_id)

    def _confirm(self, message: SubscriptionConfirmation) -> Outcome:
        try:
            result = self.confirmer.confirm(message)
        except ConfirmationError as exc:
            self.store.record_subscription(self._subscription_event(message, None, detail=exc.reason))
            raise
        self.store.record_subscription(self._subscription_event(message, result))
        if result.confirmed:
            logger.info("confirmed subscription to %s via %s", message.topic_arn, result.method)
            return Outcome.success("confirmed", message_id=message.message_id)
        logger.warning("subscription to %s is pending manual confirmation", message.topic_arn)
        return Outcome.success("pending", message_id=message.message_id)


class AsyncSubscriber(_Pipeline):
    """:class:`Subscriber` for asyncio frameworks (Starlette, FastAPI): certificate fetches,
    confirmation and storage never block the event loop."""

    def __init__(self, verifier: AsyncVerifier, store: InboxStore, **options: object) -> None:
        super().__init__(store, **options)  # type: ignore[arg-type]
        self.verifier = verifier

    async def handle(self, request: InboundRequest) -> Outcome:
        try:
            message = self._admit(request)
            if isinstance(message, RawNotification):
                if not self.verifier.policy.topic_allowed(message.topic_arn):
                    raise TopicNotAllowedError(
                        "topic is not in this endpoint's allow-list", value=message.topic_arn
                    )
                return await self._persist(message)
            await self.verifier.verify(message, client=request.remote_addr)
            if isinstance(message, Notification):
                return await self._persist(message)
            if isinstance(message, SubscriptionConfirmation):
                return await self._confirm(message)
            await asyncio.to_thread(self.store.record_subscription, self._subscription_event(message, None))
            return self._unsubscribed(message)
        except Exception as exc:
            return self._answer_error(exc)

    async def _persist(self, message: Notification | RawNotification) -> Outcome:
        # The group committer resolves the future after the batch commits; no thread is held.
        inserted = await self.store.submit_async(self._new_message(message))
        if inserted and self.worker is not None:
            try:
                await asyncio.to_thread(self.worker.run_once)
            except Exception:
                logger.exception("inline processing of %s failed; it stays in the inbox", message.message_id)
        return self._stored(message, inserted)

    async def _confirm(self, message: SubscriptionConfirmation) -> Outcome:
        try:
            result = await asyncio.to_thread(self.confirmer.confirm, message)
        except ConfirmationError as exc:
            await asyncio.to_thread(
                self.store.record_subscription,
                self._subscription_event(message, None, detail=exc.reason),
            )
            raise
        await asyncio.to_thread(self.store.record_subscription, self._subscription_event(message, result))
        return Outcome.success("confirmed" if result.confirmed else "pending", message_id=message.message_id)
