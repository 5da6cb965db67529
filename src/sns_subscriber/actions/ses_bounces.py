"""The SES hook apps usually want: be told of each bounced or complaining address once,
typed, so the app can stop mailing it."""

from __future__ import annotations

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
        if event.bounce is not None and (event.bounce.permanent or not permanent_only):
            for recipient in event.bounce.recipients:
                delivery.once(
                    f"bounce:{recipient.email.lower()}",
                    lambda r=recipient: callback(r.email, "bounce", event),
                )
        if event.complaint is not None:
            for address in event.complaint.recipients:
                delivery.once(
                    f"complaint:{address.lower()}", lambda a=address: callback(a, "complaint", event)
                )

    return router.add(handler, event=SESEvent, name=name)
