"""A one-file Django project whose AWS Budgets alerts e-mail each budget's owner, exactly once.

One decorator puts the SNS side in place: every request is verified against the topic
allow-list, subscriptions are confirmed, the "SNS Topic Verified!" test message is
acknowledged, and each alert is stored durably before SNS gets its 200 (the view is
csrf-exempt: SNS cannot send a token; its signature is what protects the view). A worker
thread then hands each stored alert to ``email_owner`` as a typed ``Delivery[BudgetAlert]``.

Run it (SQLite inbox and .eml outbox in ./var/django-budgets):

    python examples/django_budgets/app.py runserver --noreload 127.0.0.1:8000

``DATA_DIR`` and ``SNS_CERT_DIR`` may be set. In a real project the settings live in
settings.py and ``create_urlpatterns()`` is called from urls.py.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path

from sns_subscriber import Delivery, Router, Subscriber, VerificationPolicy, Verifier, Worker, open_store
from sns_subscriber.actions.budget_email import BudgetEmailAction
from sns_subscriber.actions.email import EmailBackend, FileBackend
from sns_subscriber.actions.owners import BudgetOwner, ConfigOwnerResolver
from sns_subscriber.confirmation import Confirmer, make_confirmer
from sns_subscriber.integrations.django import sns_endpoint
from sns_subscriber.producers import BudgetAlert

logger = logging.getLogger("django_budgets")
TOPIC = "arn:aws:sns:us-east-1:123456789012:budget-alerts"
#: Who owns which budget (an API with its own user table passes a resolver that queries it).
OWNERS = (
    BudgetOwner(budget="team-a-*", email="alice@example.com", name="Alice"),
    BudgetOwner(budget="team-b-*", email="bob@example.com", name="Bob"),
)


def create_urlpatterns(
    *,
    data_dir: str | Path = "var/django-budgets",
    topics: Sequence[str] = (TOPIC,),
    cert_dir: str | Path | None = None,
    confirmer: Confirmer | None = None,
    email_backend: EmailBackend | None = None,
    sender: str = "alerts@example.com",
) -> list[URLPattern]:
    """The project's URLs; starts the worker thread that processes the inbox."""
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{data / 'inbox.db'}")
    verifier = Verifier(VerificationPolicy(allowed_topic_arns=tuple(topics)), cert_dir=cert_dir)
    subscriber = Subscriber(
        verifier, store, endpoint="/budget-subscriber", confirmer=confirmer or make_confirmer("auto")
    )
    backend = email_backend or FileBackend(data / "outbox")
    send_budget_email = BudgetEmailAction(backend, ConfigOwnerResolver(OWNERS), sender=sender)
    router = Router()

    @sns_endpoint(subscriber, router, event=BudgetAlert)
    def email_owner(delivery: Delivery[BudgetAlert]) -> None:
        """Runs in the worker for each stored alert; never twice for one message."""
        logger.info("budget alert for %s", delivery.event.budget_name)  # typed: a BudgetAlert
        send_budget_email(delivery)

    def inbox(_: HttpRequest) -> JsonResponse:
        """How many SNS messages are in each state."""
        return JsonResponse({str(status): count for status, count in store.counts().items()})

    worker = Worker(store, router, poll_interval=0.2)
    threading.Thread(target=worker.run, name="sns-worker", daemon=True).start()
    return [path("budget-subscriber", email_owner), path("inbox", inbox)]


def configure(**options: Any) -> None:
    """Django settings for this one-file project (ROOT_URLCONF is this module)."""
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "development only"),
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
        APPEND_SLASH=False,
        **options,
    )
    django.setup()


if __name__ == "__main__":  # pragma: no cover - manual run
    from django.core.management import execute_from_command_line

    configure()
    urlpatterns = create_urlpatterns(
        data_dir=os.environ.get("DATA_DIR", "var/django-budgets"), cert_dir=os.environ.get("SNS_CERT_DIR")
    )
    execute_from_command_line(sys.argv)
