"""An API whose customers each have an AWS Budget; budget alerts e-mail the right customer.

The well-known pattern (a Flask view behind three decorators: check the SNS signature,
confirm the subscription, acknowledge the "SNS Topic Verified!" test message, then send the
e-mail inside the request) becomes one decorator here, done right: the message is verified
against the topic allow-list, stored durably before SNS gets its 200, and e-mailed by a
worker exactly once per recipient, even when SNS delivers it again.

Run it (SQLite files and .eml outbox in ./var):

    python examples/flask_budgets/app.py
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request

from sns_subscriber import VerificationPolicy, Verifier
from sns_subscriber.actions.budget_email import BudgetEmailAction
from sns_subscriber.actions.email import EmailBackend, FileBackend
from sns_subscriber.actions.owners import Recipient
from sns_subscriber.confirmation import Confirmer, make_confirmer
from sns_subscriber.integrations.flask import sns_endpoint
from sns_subscriber.producers import BudgetAlert
from sns_subscriber.routing import Router
from sns_subscriber.stores import open_store
from sns_subscriber.subscriber import Subscriber
from sns_subscriber.worker import Worker

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS budgets (
    budget_name TEXT NOT NULL, aws_account TEXT NOT NULL, user_id INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (budget_name, aws_account)
);
"""


class Users:
    """The API's own users table: who owns which AWS Budget."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def add(self, name: str, email: str, budgets: Sequence[tuple[str, str]]) -> int:
        with self._db() as db:
            cursor = db.execute("INSERT INTO users (name, email) VALUES (?, ?)", (name, email))
            user_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO budgets (budget_name, aws_account, user_id) VALUES (?, ?, ?)",
                [(budget, account, user_id) for budget, account in budgets],
            )
        return user_id

    def all(self) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT u.id, u.name, u.email, b.budget_name, b.aws_account FROM users u "
                "LEFT JOIN budgets b ON b.user_id = u.id ORDER BY u.id"
            ).fetchall()
        return [{"id": r[0], "name": r[1], "email": r[2], "budget": r[3], "account": r[4]} for r in rows]

    def owners_of(self, alert: BudgetAlert) -> list[Recipient]:
        """The owner resolver: the users whose budget (and AWS account) the alert is about."""
        with self._db() as db:
            rows = db.execute(
                "SELECT u.name, u.email FROM budgets b JOIN users u ON u.id = b.user_id "
                "WHERE b.budget_name = ? AND b.aws_account = ?",
                (alert.budget_name, alert.account_id),
            ).fetchall()
        return [Recipient(email=email, name=name) for name, email in rows]


def create_app(
    *,
    data_dir: str | Path = "var/flask-budgets",
    topics: Sequence[str] = ("arn:aws:sns:us-east-1:123456789012:budget-alerts",),
    cert_dir: str | Path | None = None,
    confirmer: Confirmer | None = None,
    email_backend: EmailBackend | None = None,
    sender: str = "alerts@example.com",
    run_worker: bool = True,
) -> Flask:
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    users = Users(data / "users.db")
    store = open_store(f"sqlite:///{data / 'inbox.db'}")
    router = Router()
    verifier = Verifier(VerificationPolicy(allowed_topic_arns=tuple(topics)), cert_dir=cert_dir)
    subscriber = Subscriber(
        verifier, store, endpoint="/budget-subscriber", confirmer=confirmer or make_confirmer("auto")
    )
    backend = email_backend or FileBackend(data / "outbox")
    email_owner = BudgetEmailAction(backend, users.owners_of, sender=sender)

    app = Flask(__name__)
    app.config["users"] = users
    app.config["store"] = store

    # The whole SNS side of the API: verify, confirm, acknowledge test messages, store, and
    # hand every BudgetAlert to email_owner in the worker.
    app.add_url_rule(
        "/budget-subscriber",
        view_func=sns_endpoint(subscriber, router, event=BudgetAlert, name="email-owner")(email_owner),
        methods=["POST"],
    )

    @app.get("/users")
    def list_users() -> Any:
        return jsonify(users.all())

    @app.post("/users")
    def add_user() -> Any:
        body = request.get_json(silent=True) or {}
        if not isinstance(body.get("name"), str) or not isinstance(body.get("email"), str):
            return jsonify({"error": "name and email are required strings"}), 400
        budgets = [(b["budget"], b["account"]) for b in body.get("budgets", []) if isinstance(b, dict)]
        return jsonify({"id": users.add(body["name"], body["email"], budgets)}), 201

    worker = Worker(store, router, poll_interval=0.2)
    app.config["worker"] = worker
    thread = threading.Thread(target=worker.run, name="sns-worker", daemon=True)
    if run_worker:
        thread.start()

    def shutdown() -> None:
        """Finish the current message, then close the SMTP connection and the inbox."""
        worker.stopping.set()
        if thread.is_alive():
            thread.join(timeout=30)
        backend.close()
        store.close()

    app.config["shutdown"] = shutdown
    return app


if __name__ == "__main__":  # pragma: no cover - manual run
    application = create_app(cert_dir=os.environ.get("SNS_CERT_DIR"))
    try:
        application.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
    finally:
        application.config["shutdown"]()
