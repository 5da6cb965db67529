"""Worker throughput: Budgets alerts -> e-mails through a local SMTP server, in messages/s.

A SQLite inbox is pre-filled with N distinct signed Budgets alerts (stored exactly as the
receiver stores them), then ``sns-subscriber worker --once`` runs over it with
``actions = ["budget-email"]``, ``[email] backend = "smtp"`` pointing at an aiosmtpd server on
127.0.0.1 and ``[[budget_owners]] budget = "*"``. The aiosmtpd server counts TCP connections
(were SMTP connections reused?) and timestamps each accepted message.

Two rates: e-mails/s between the first and the last message the SMTP server accepted (the
worker's steady state), and processed/s over the whole command (process start included).
If the e-mail action is not importable yet the result is "not available": nothing is faked.

    python -m bench.worker_email [--messages 2000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sns_subscriber import parse
from sns_subscriber.stores import NewMessage, open_store

from .common import (
    ENDPOINT,
    PYTHON,
    ROOT,
    MessageSet,
    child_env,
    free_port,
    print_result,
    shared_messages,
    tail,
    temp_dir,
    write_service_config,
)

OWNER = "owner@example.com"


class CountingHandler:
    """aiosmtpd handler: counts connections (via the SMTP factory) and messages."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.messages = 0
        self.recipients = 0
        self.first: float | None = None
        self.last: float | None = None

    def connected(self) -> None:
        with self.lock:
            self.connections += 1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        now = time.perf_counter()
        with self.lock:
            self.messages += 1
            self.recipients += len(envelope.rcpt_tos)
            self.first = now if self.first is None else self.first
            self.last = now
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.connections = self.messages = self.recipients = 0
            self.first = self.last = None


def start_smtp(handler: CountingHandler, port: int) -> Any:
    from aiosmtpd.controller import Controller  # noqa: PLC0415
    from aiosmtpd.smtp import SMTP  # noqa: PLC0415

    class CountingSMTP(SMTP):
        def connection_made(self, transport: Any) -> None:
            handler.connected()
            super().connection_made(transport)

    class CountingController(Controller):
        def factory(self) -> Any:
            return CountingSMTP(self.handler, **self.SMTP_kwargs)

    controller = CountingController(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.reset()  # start() opens one connection of its own to check the server is up
    return controller


def email_config(directory: Path, messages: MessageSet, smtp_port: int, action: str) -> Path:
    store_url = f"sqlite:///{directory / 'inbox.db'}"
    cert_dir = messages.kit.write_cert_dir(directory / "certs")
    extra = f"""
[email]
backend = "smtp"
from = "alerts@example.com"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}

[[budget_owners]]
budget = "*"
email = "{OWNER}"
name = "Owner"
"""
    return write_service_config(
        directory, store_url=store_url, cert_dir=cert_dir, worker=True, actions=[action], extra=extra
    )


def action_available(config: Path) -> str | None:
    """None if the configured actions can be built here, else why not."""
    from sns_subscriber.exceptions import SNSSubscriberError  # noqa: PLC0415
    from sns_subscriber.service.config import load_config  # noqa: PLC0415
    from sns_subscriber.service.runtime import build_runtime  # noqa: PLC0415

    try:
        runtime = build_runtime(load_config(config))
    except ImportError as exc:
        return f"e-mail action not importable ({exc})"
    except SNSSubscriberError as exc:
        return f"e-mail action not usable ({exc})"
    runtime.close()
    return None


def prefill(store_url: str, messages: MessageSet, count: int) -> int:
    """Store ``count`` messages as the receiver would (group commit, so it is quick)."""
    store = open_store(store_url)
    try:
        futures: list[Future[bool]] = []
        for message in messages.messages[:count]:
            parsed = parse(message.body)
            futures.append(
                store.submit(
                    NewMessage(
                        message_id=message.message_id,
                        endpoint=ENDPOINT,
                        topic_arn=messages.topic,
                        message_type="Notification",
                        subject=getattr(parsed, "subject", None),
                        body=message.body,
                    )
                )
            )
        return sum(bool(f.result(timeout=60)) for f in futures)
    finally:
        store.close()


def run(messages: int = 2000, *, action: str = "budget-email", timeout: float = 120.0) -> dict[str, Any]:
    signed = shared_messages(max(messages, 1))
    handler = CountingHandler()
    smtp_port = free_port()
    controller = start_smtp(handler, smtp_port)
    try:
        with temp_dir("worker") as directory:
            config = email_config(directory, signed, smtp_port, action)
            reason = action_available(config)
            if reason is not None:
                return {"available": False, "reason": reason, "ok": None}
            stored = prefill(f"sqlite:///{directory / 'inbox.db'}", signed, messages)
            handler.reset()
            command = [PYTHON, "-m", "sns_subscriber", "worker", "--config", str(config), "--once"]
            start = time.perf_counter()
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=child_env(),
                cwd=ROOT,
                check=False,
            )
            wall = time.perf_counter() - start
            log = directory / "worker.log"
            log.write_text(completed.stdout + completed.stderr)
            if completed.returncode != 0:
                raise RuntimeError(f"worker --once failed ({completed.returncode}):\n{tail(log)}")
            found = re.search(r"processed (\d+) message", completed.stdout)
            processed = int(found.group(1)) if found else 0
    finally:
        controller.stop()
    span = (handler.last - handler.first) if handler.first is not None and handler.last is not None else 0.0
    emails_per_s = (handler.messages - 1) / span if span > 0 else 0.0
    return {
        "available": True,
        "stored": stored,
        "processed": processed,
        "emails": handler.messages,
        "recipients": handler.recipients,
        "smtp_connections": handler.connections,
        "connections_reused": handler.connections < max(handler.messages, 2),
        "emails_per_s": emails_per_s,
        "processed_per_s_with_startup": processed / wall,
        "wall_seconds": wall,
        "ok": processed == stored and (action != "budget-email" or handler.messages >= stored),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--action", default="budget-email", help="endpoint action (log: plumbing check)")
    args = parser.parse_args()
    print_result("worker_email", run(args.messages, action=args.action))


if __name__ == "__main__":
    main()
