"""Before a message's actions run: set aside what must not run any, and spot resolutions.

* A producer's handshake or test event (:mod:`sns_subscriber.producers.handshakes`) is set
  aside as ``test``: acknowledged, kept, never retried or dead-lettered, no action run.
* State producers may deliver out of order (AWS says so of its own notifications). A CloudWatch
  alarm state change older, by ``StateChangeTime``, than the newest one already processed for
  the same alarm is set aside as ``stale``: acting on it would undo the newer state (an old
  ALARM arriving after the OK would page someone for a problem that is over).
* An OK after an ALARM is a *resolution*: :attr:`Delivery.resolution` tells the actions, so
  their text says "resolved" instead of repeating the alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .producers import CloudWatchAlarm
from .producers.handshakes import handshake_name
from .stores.base import InboxStatus

if TYPE_CHECKING:
    from .stores import InboxStore

__all__ = ["Triage", "triage"]


@dataclass(frozen=True, slots=True)
class Triage:
    #: TEST or STALE: set the message aside with ``reason``, run nothing. None: run the actions.
    status: InboxStatus | None = None
    reason: str | None = None
    #: The message ends a problem an earlier message reported (an alarm back to OK).
    resolution: bool = False


RUN = Triage()


def triage(event: object, message_text: str | None, store: InboxStore, message_id: str) -> Triage:
    """What to do with a Notification's ``event`` before its actions run."""
    name = handshake_name(event, message_text)
    if name is not None:
        return Triage(InboxStatus.TEST, f"test event: {name}")
    if isinstance(event, CloudWatchAlarm) and event.state_change_time is not None and event.new_state:
        seen = store.record_alarm_state(
            event.alarm_key,
            state=event.new_state,
            changed_at=event.state_change_time,
            message_id=message_id,
        )
        if seen.stale:
            return Triage(
                InboxStatus.STALE,
                f"stale: a newer state change of alarm {event.name[:200]} was already processed "
                f"(this one: {event.new_state} at {event.state_change_time.isoformat()})",
            )
        back_to_ok = event.new_state == "OK" and seen.previous_state == "ALARM"
        return Triage(resolution=event.resolves_alarm or back_to_ok)
    return RUN
