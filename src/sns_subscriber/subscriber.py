"""The receiving pipeline: ``Subscriber.handle(InboundRequest) -> Outcome``.

request ─► method / basic auth / size ─► parse ─► verify ─► decide ─► persist ─► Outcome

Nothing is acknowledged before it is durable: a Notification is answered 200 only after the
store's group commit holding it has committed. Handlers run later, in the worker (or inline,
after persisting, when a ``worker`` is given).

The sync and async twins share one flow, :meth:`_Pipeline._flow`: a generator that makes
every decision (and writes every log line) and yields the I/O it needs as small step values.
``Subscriber`` performs those steps with blocking calls, ``AsyncSubscriber`` awaits them; that
is the only difference between the two, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .confirmation import Confirmer, ConfirmResult, ManualConfirmer
from .exceptions import (
    AuthenticationRequiredError,
    ConfigurationError,
    ConfirmationError,
    MessageTooLargeError,
    MethodNotAllowedError,
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
    from .stores import InboxStore, NewMessage, SubscriptionEvent, SubscriptionRecord
    from .worker import Worker

__all__ = ["AsyncSubscriber", "BasicAuth", "Subscriber"]

logger = logging.getLogger("sns_subscriber")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Credentials SNS sends when the subscription URL is ``https://user:password@host/...``."""

    username: str
    #: Kept out of repr(): a logged or printed object must not show it.
    password: str = field(repr=False)

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


# -- the I/O steps the shared flow asks its driver to perform ---------------------------------


@dataclass(frozen=True, slots=True)
class _Verify:
    """Check the signature (may fetch a certificate). Answer: None."""

    message: SNSMessage
    #: Who sent it (the peer address), for per-client certificate-download budgets.
    client: str | None = None


@dataclass(frozen=True, slots=True)
class _Persist:
    """Store a notification durably. Answer: True if inserted, False if already stored."""

    item: NewMessage


@dataclass(frozen=True, slots=True)
class _RunInline:
    """Run the worker once, right after storing. Answer: None."""


@dataclass(frozen=True, slots=True)
class _Subscription:
    """Run :meth:`_Pipeline._subscription_flow` (blocking: store lookups, the confirmer).
    Answer: its Outcome."""

    message: SubscriptionConfirmation | UnsubscribeConfirmation


_Step = _Verify | _Persist | _RunInline | _Subscription
#: Yields steps, is sent each step's answer (or has its exception thrown in), returns the Outcome.
_Flow = Generator[_Step, Any, Outcome]


def _resume(flow: _Flow, answer: Any, failure: Exception | None) -> _Step | Outcome:
    """Hand the flow the last step's answer (or its exception): the next step, or the Outcome."""
    try:
        return flow.throw(failure) if failure is not None else flow.send(answer)
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome


_VerifierT = TypeVar("_VerifierT", Verifier, AsyncVerifier)


class _Pipeline(Generic[_VerifierT]):
    """What the twins share: configuration, and the one flow from request to Outcome
    (arguments: see :class:`Subscriber`)."""

    def __init__(
        self,
        verifier: _VerifierT,
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
        self.verifier: _VerifierT = verifier
        self.store = store
        self.endpoint = endpoint
        self.confirmer: Confirmer = confirmer or ManualConfirmer()
        self.basic_auth = basic_auth
        self.allow_raw_delivery = allow_raw_delivery
        self.max_body_bytes = max_body_bytes
        self.worker = worker
        # One subscription message at a time (they are rare): a replay racing its original
        # must find the original's record, not confirm a second time.
        self._subscription_lock = threading.Lock()
        # Imported here, once: stores are not part of `import sns_subscriber`.
        from .stores import NewMessage, SubscriptionEvent, SubscriptionState  # noqa: PLC0415

        self._new_message_type = NewMessage
        self._event_type = SubscriptionEvent
        self._states = SubscriptionState

    # -- the flow ------------------------------------------------------------------------

    def _flow(self, request: InboundRequest) -> _Flow:
        try:
            message = self._admit(request)
            if isinstance(message, RawNotification):
                if not self.verifier.policy.topic_allowed(message.topic_arn):
                    raise TopicNotAllowedError(
                        "topic is not in this endpoint's allow-list", value=message.topic_arn
                    )
            else:
                yield _Verify(message, request.remote_addr)
            if isinstance(message, Notification | RawNotification):
                inserted: bool = yield _Persist(self._new_message(message))
                if inserted and self.worker is not None:
                    try:
                        yield _RunInline()
                    except Exception:  # stored already: the background worker will pick it up
                        logger.exception(
                            "inline processing of %s failed; it stays in the inbox", message.message_id
                        )
                return self._stored(message, inserted)
            outcome: Outcome = yield _Subscription(message)
            return outcome
        except Exception as exc:
            return outcome_for_error(exc)

    def _subscription_flow(self, message: SubscriptionConfirmation | UnsubscribeConfirmation) -> Outcome:
        """Record (and for a SubscriptionConfirmation, confirm) at most once per MessageId.

        A captured SubscriptionConfirmation stays valid for days: replayed, it must neither add
        rows nor make the confirmer call out again. A confirmation that failed is tried again
        (SNS retries it after our 503), and a subscription that already stands confirmed is
        never confirmed again: a new request for it is recorded as pending for a person.
        """
        with self._subscription_lock:
            earlier = self.store.latest_subscription_event(message.message_id)
            if earlier is not None and earlier.state != self._states.FAILED:
                logger.info(
                    "subscription message %s for %s was already handled (%s); ignoring the repeat",
                    message.message_id, message.topic_arn, earlier.state,
                )  # fmt: skip
                return Outcome.success("duplicate", message_id=message.message_id)
            if isinstance(message, UnsubscribeConfirmation):
                self._record(message, self._states.UNSUBSCRIBED, earlier)
                return self._unsubscribed(message)
            standing = self.store.confirmed_subscription(message.topic_arn, self.endpoint)
            if standing is not None:
                return self._already_confirmed(message, standing, earlier)
            try:
                result = self.confirmer.confirm(message)
            except ConfirmationError as exc:
                self._record(message, self._states.FAILED, earlier, detail=exc.reason)
                raise
            if result.confirmed:
                self._record(message, self._states.CONFIRMED, earlier, result=result)
                logger.info(
                    "confirmed subscription of %s to %s via %s",
                    self.endpoint, message.topic_arn, result.method,
                )  # fmt: skip
                return Outcome.success("confirmed", message_id=message.message_id)
            record = self._record(message, self._states.PENDING, earlier, result=result)
            logger.warning(
                "subscription of %s to %s is pending: confirm it with `sns-subscriber subscriptions "
                "confirm %s` within 48 hours (SNS then deletes it)",
                self.endpoint, message.topic_arn, record.id if record else "ID",
            )  # fmt: skip
            return Outcome.success("pending", message_id=message.message_id)

    def _already_confirmed(
        self,
        message: SubscriptionConfirmation,
        standing: SubscriptionRecord,
        earlier: SubscriptionRecord | None,
    ) -> Outcome:
        record = self._record(
            message,
            self._states.PENDING,
            earlier,
            detail=f"already confirmed (event {standing.id}); not confirmed again automatically",
        )
        logger.warning(
            "subscription of %s to %s is already confirmed (event %s); a new confirmation request "
            "(message %s) was recorded but not confirmed. If the subscription was re-created on the "
            "AWS side, confirm it with `sns-subscriber subscriptions confirm %s`",
            self.endpoint, message.topic_arn, standing.id, message.message_id, record.id if record else "ID",
        )  # fmt: skip
        return Outcome.success("pending", message_id=message.message_id)

    def _record(
        self,
        message: SubscriptionConfirmation | UnsubscribeConfirmation,
        state: str,
        earlier: SubscriptionRecord | None,
        *,
        result: ConfirmResult | None = None,
        detail: str | None = None,
    ) -> SubscriptionRecord | None:
        """Append the event, unless it would only repeat the failure already on record."""
        if earlier is not None and earlier.state == state == self._states.FAILED:
            return None
        return self.store.record_subscription(self._subscription_event(message, state, result, detail))

    # -- pieces of the flow ------------------------------------------------------------------

    def _admit(self, request: InboundRequest) -> SNSMessage | RawNotification:
        """Everything decided from the request alone, in the order that costs least."""
        if request.method != "POST":
            raise MethodNotAllowedError("SNS delivers with POST", value=request.method[:16])
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
        state: str,
        result: ConfirmResult | None,
        detail: str | None,
    ) -> SubscriptionEvent:
        return self._event_type(
            topic_arn=message.topic_arn,
            endpoint=self.endpoint,
            state=self._states(state),
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
        # Never visit SubscribeURL here: it would subscribe the endpoint again.
        logger.warning(
            "endpoint was unsubscribed from %s (message %s)", message.topic_arn, message.message_id
        )
        return Outcome.success("unsubscribed", message_id=message.message_id)


class Subscriber(_Pipeline[Verifier]):
    """Receive SNS messages for one endpoint (synchronous frameworks: Flask, Django, WSGI).

    ``verifier`` decides authenticity and the topic allow-list; ``store`` is the durable
    inbox. Keyword arguments: ``endpoint``, the path recorded with every message;
    ``confirmer`` confirms subscriptions (default: record them as pending, for a person to
    confirm with ``sns-subscriber subscriptions confirm``); ``basic_auth`` demands the
    credentials of the subscription URL; ``allow_raw_delivery`` (which needs ``basic_auth``)
    accepts unsigned raw deliveries; ``max_body_bytes`` caps the request body; with a
    ``worker``, handlers run inline after persisting, before the answer.
    """

    def handle(self, request: InboundRequest) -> Outcome:
        flow = self._flow(request)
        step = _resume(flow, None, None)
        while not isinstance(step, Outcome):
            try:
                answer = self._perform(step)
            except Exception as exc:  # the step failed: the flow decides what that means
                step = _resume(flow, None, exc)
            else:
                step = _resume(flow, answer, None)
        return step

    def _perform(self, step: _Step) -> Any:
        if isinstance(step, _Verify):
            return self.verifier.verify(step.message, client=step.client)
        if isinstance(step, _Persist):
            return self.store.add(step.item)
        if isinstance(step, _RunInline):
            assert self.worker is not None
            return self.worker.run_once()
        return self._subscription_flow(step.message)


class AsyncSubscriber(_Pipeline[AsyncVerifier]):
    """:class:`Subscriber` for asyncio frameworks (Starlette, FastAPI), with an
    :class:`~.verification.AsyncVerifier` and the same arguments: certificate fetches,
    confirmation and storage never block the event loop."""

    async def handle(self, request: InboundRequest) -> Outcome:
        flow = self._flow(request)
        step = _resume(flow, None, None)
        while not isinstance(step, Outcome):
            try:
                answer = await self._perform(step)
            except Exception as exc:  # the step failed: the flow decides what that means
                step = _resume(flow, None, exc)
            else:
                step = _resume(flow, answer, None)
        return step

    async def _perform(self, step: _Step) -> Any:
        if isinstance(step, _Verify):
            return await self.verifier.verify(step.message, client=step.client)
        if isinstance(step, _Persist):
            # The group committer resolves the future after the batch commits; no thread is held.
            return await self.store.submit_async(step.item)
        if isinstance(step, _RunInline):
            assert self.worker is not None
            return await asyncio.to_thread(self.worker.run_once)
        # Store lookups and the confirmer block; subscription messages are rare.
        return await asyncio.to_thread(self._subscription_flow, step.message)
