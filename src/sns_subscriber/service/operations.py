"""What an operator does to the inbox, written once for the CLI and the console.

``sns-subscriber inbox replay`` / ``subscriptions confirm`` and the console's buttons and
JSON API call these functions, so there is one way to replay a message and one way to
confirm a pending subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..confirmation import Confirmer, make_confirmer
from ..messages import SubscriptionConfirmation

if TYPE_CHECKING:
    from ..stores import InboxStore, SubscriptionRecord

__all__ = ["NotFoundError", "WrongStateError", "confirm_pending", "replay_message"]


class NotFoundError(LookupError):
    """No message or subscription event with that id."""


class WrongStateError(ValueError):
    """The message or subscription is not in a state the operation applies to."""


def replay_message(store: InboxStore, message_id: str, *, force: bool = False) -> None:
    """Queue a DONE or DEAD message for processing again; ``force`` also forgets the actions
    that already succeeded for it (e-mails are sent again)."""
    record = store.get(message_id)
    if record is None:
        raise NotFoundError(f"no message {message_id!r} in the inbox")
    if force:
        store.forget_actions(message_id)
    if not store.replay(message_id):
        raise WrongStateError(f"message {message_id} is {record.status}, not done or dead; nothing to replay")


def confirm_pending(
    store: InboxStore,
    subscription_id: int,
    *,
    mode: str,
    confirmer: Callable[[str], Confirmer] | None = None,
) -> SubscriptionRecord:
    """Confirm the pending subscription recorded as event ``subscription_id`` (``mode`` is
    ``url``, ``api`` or ``auto``) and record the CONFIRMED event, which is returned.
    ``confirmer(mode)`` builds the confirmer (the service's routes API calls to LocalStack
    and trusts its host; the default is :func:`~sns_subscriber.confirmation.make_confirmer`).

    Raises :class:`NotFoundError`, :class:`WrongStateError`, or the confirmer's
    :class:`~sns_subscriber.exceptions.SNSSubscriberError` when SNS refuses or cannot be reached.
    """
    from ..stores import SubscriptionEvent, SubscriptionState  # noqa: PLC0415 - keeps `verify` light

    record = store.get_subscription(subscription_id)
    if record is None:
        raise NotFoundError(f"no subscription event {subscription_id}")
    if record.state != SubscriptionState.PENDING or not record.token or not record.subscribe_url:
        raise WrongStateError(f"subscription event {subscription_id} is {record.state}, not pending")
    later = [
        event
        for event in store.list_subscriptions()
        if event.id > record.id and (event.topic_arn, event.endpoint) == (record.topic_arn, record.endpoint)
    ]
    if later and later[-1].state == SubscriptionState.CONFIRMED:
        # Confirming twice changes nothing at AWS; it would only add a row and a request.
        raise WrongStateError(
            f"subscription event {subscription_id} was already confirmed (event {later[-1].id}); nothing to do"
        )
    if later:
        raise WrongStateError(
            f"subscription event {subscription_id} is no longer pending: event {later[-1].id} "
            f"({later[-1].state}) came after it"
        )
    message = SubscriptionConfirmation(
        message_id=record.message_id,
        topic_arn=record.topic_arn,
        message="",
        timestamp="",
        signature_version="",
        signature="",
        signing_cert_url="",
        token=record.token,
        subscribe_url=record.subscribe_url,
    )
    result = (confirmer or make_confirmer)(mode).confirm(message)
    return store.record_subscription(
        SubscriptionEvent(
            topic_arn=record.topic_arn,
            endpoint=record.endpoint,
            state=SubscriptionState.CONFIRMED,
            message_id=record.message_id,
            subscription_arn=result.subscription_arn,
            detail=f"manual {mode}",
        )
    )
