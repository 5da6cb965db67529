"""A FastAPI service whose AWS Budgets alerts e-mail each budget's owner, exactly once.

One decorator puts the SNS side in place: every request is verified against the topic
allow-list, subscriptions are confirmed, the "SNS Topic Verified!" test message is
acknowledged, and each alert is stored durably before SNS gets its 200. A worker thread then
hands each stored alert to ``email_owner`` as a typed ``Delivery[BudgetAlert]``.

Run it (SQLite inbox and .eml outbox in ./var/fastapi-budgets):

    python examples/fastapi_budgets/app.py          # PORT, DATA_DIR and SNS_CERT_DIR may be set
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from fastapi import FastAPI

from sns_subscriber import (
    AsyncSubscriber,
    AsyncVerifier,
    Delivery,
    Router,
    VerificationPolicy,
    Worker,
    open_store,
)
from sns_subscriber.actions.budget_email import BudgetEmailAction
from sns_subscriber.actions.email import EmailBackend, FileBackend
from sns_subscriber.actions.owners import BudgetOwner, ConfigOwnerResolver
from sns_subscriber.confirmation import Confirmer, make_confirmer
from sns_subscriber.integrations.fastapi import sns_endpoint
from sns_subscriber.producers import BudgetAlert

logger = logging.getLogger("fastapi_budgets")
TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"
#: Who owns which budget (an API with its own user table passes a resolver that queries it).
OWNERS = (
    BudgetOwner(budget="team-a-*", email="alice@example.com", name="Alice"),
    BudgetOwner(budget="team-b-*", email="bob@example.com", name="Bob"),
)


def create_app(
    *,
    data_dir: str | Path = "var/fastapi-budgets",
    topics: Sequence[str] = (TOPIC,),
    cert_dir: str | Path | None = None,
    confirmer: Confirmer | None = None,
    email_backend: EmailBackend | None = None,
    sender: str = "alerts@example.com",
) -> FastAPI:
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{data / 'inbox.db'}")
    verifier = AsyncVerifier(VerificationPolicy(allowed_topic_arns=tuple(topics)), cert_dir=cert_dir)
    subscriber = AsyncSubscriber(
        verifier, store, endpoint="/budget-subscriber", confirmer=confirmer or make_confirmer("auto")
    )
    backend = email_backend or FileBackend(data / "outbox")
    send_budget_email = BudgetEmailAction(backend, ConfigOwnerResolver(OWNERS), sender=sender)
    router = Router()
    worker = Worker(store, router, poll_interval=0.2)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(target=worker.run, name="sns-worker", daemon=True)
        thread.start()
        try:
            yield
        finally:  # the current message finishes, then the e-mail backend and inbox close
            worker.stopping.set()
            thread.join(timeout=30)
            backend.close()
            store.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/budget-subscriber", include_in_schema=False)
    @sns_endpoint(subscriber, router, event=BudgetAlert)
    def email_owner(delivery: Delivery[BudgetAlert]) -> None:
        """Runs in the worker for each stored alert; never twice for one message."""
        logger.info("budget alert for %s", delivery.event.budget_name)  # typed: a BudgetAlert
        send_budget_email(delivery)

    @app.get("/inbox")
    def inbox() -> dict[str, int]:
        """How many SNS messages are in each state."""
        return {str(status): count for status, count in store.counts().items()}

    return app


if __name__ == "__main__":  # pragma: no cover - manual run
    import uvicorn

    application = create_app(
        data_dir=os.environ.get("DATA_DIR", "var/fastapi-budgets"), cert_dir=os.environ.get("SNS_CERT_DIR")
    )
    uvicorn.run(application, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
