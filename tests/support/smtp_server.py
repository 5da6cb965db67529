"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests that need e-mails received."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, keeping every message it accepts.

    ``connections`` counts the SMTP sessions that delivered at least one message (the
    controller's own start-up probe never gets that far). ``reject`` holds addresses
    answered with 550 at RCPT.
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reject: set[str] = set()
        self._sessions: list[Any] = []  # strong references keep id() unique
        self._live: list[SMTP] = []
        self._lock = threading.Lock()
        self.port = 0
        #: Extra aiosmtpd SMTP options (authenticator, ...), used from the next start().
        self.smtp_options: dict[str, Any] = {}
        self._controller: Controller | None = None

    @property
    def connections(self) -> int:
        with self._lock:
            return len({id(session) for session in self._sessions})

    def start(self) -> None:
        mailbox = self

        class Handler:
            async def handle_RCPT(
                self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
            ) -> str:
                if address.lower() in mailbox.reject:
                    return "550 5.1.1 Mailbox unavailable"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with mailbox._lock:
                    mailbox._sessions.append(session)
                    mailbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                    mailbox.messages.append(parsed)
                return "250 OK"

        class LoopbackController(Controller):
            def factory(self) -> SMTP:
                server: SMTP = super().factory()
                mailbox._live.append(server)
                return server

            def _trigger_server(self) -> None:
                # With port 0 the probe must use the port the kernel actually chose.
                assert isinstance(self.server, asyncio.Server)
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        controller = LoopbackController(Handler(), hostname="127.0.0.1", port=self.port, **self.smtp_options)
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        # A real restart closes client connections; stopping the loop alone would leave them open.
        for server in self._live:
            if server.transport is not None:
                controller.loop.call_soon_threadsafe(server.transport.close)
        self._live.clear()
        controller.stop()

    def restart(self) -> None:
        self.stop()
        self.start()  # same port

    def wait_for(self, count: int, timeout: float = 15) -> None:
        """Wait until ``count`` messages arrived (or ``timeout`` seconds passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return
            time.sleep(0.05)

    def __enter__(self) -> Mailbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
