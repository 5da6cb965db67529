"""A chat webhook on 127.0.0.1 that rate-limits like Slack: it answers 429 with Retry-After."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatWebhook:
    """Records every POSTed JSON body. ``throttle`` maps a request number (1-based, counting
    every request) to the Retry-After to answer with a 429 ("" for a 429 without the header)."""

    def __init__(self, throttle: dict[int, str] | None = None) -> None:
        self.throttle = dict(throttle or {})
        self.accepted: list[Any] = []
        self.requests = 0
        self.throttled = 0
        self._lock = threading.Lock()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with webhook._lock:
                    webhook.requests += 1
                    retry_after = webhook.throttle.pop(webhook.requests, None)
                    if retry_after is None:
                        webhook.accepted.append(json.loads(body))
                    else:
                        webhook.throttled += 1
                self.send_response(200 if retry_after is None else 429)
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/x"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ChatWebhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
