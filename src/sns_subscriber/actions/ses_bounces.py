"""The SES hook apps usually want: be told of each bounced or complaining address once,
typed, so the app can stop mailing it."""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..delivery import Delivery
from ..producers import SESEvent
from ..routing import Route, Router

__all__ = ["on_ses_suppression"]

#: Called with (address, reason, event): reason is "bounce" or "complaint".
SuppressionCallback = Callable[[str, str, SESEvent], None]


def on_ses_suppression(
    router: Router,
    callback: SuppressionCallback,
    *,
    permanent_only: bool = True,
    name: str = "ses-suppression",
) -> Route:
    """Call ``callback`` once per address to suppress: permanent bounces (all bounces with
    ``permanent_only=False``) and complaints. Each address is reported once per message,
    even across retries and replays."""

    def handler(delivery: Delivery) -> None:
        event = delivery.event
        if not isinstance(event, SESEvent):
            return
        addresses: list[tuple[str, str]] = []
        if event.bounce is not None and (event.bounce.permanent or not permanent_only):
            addresses += [(r.email, "bounce") for r in event.bounce.recipients]
        if event.complaint is not None:
            addresses += [(a, "complaint") for a in event.complaint.recipients]
        for address, reason in addresses:
            delivery.once(f"{reason}:{address.lower()}", functools.partial(callback, address, reason, event))

    return router.add(handler, event=SESEvent, name=name)
