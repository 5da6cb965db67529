"""Helpers for the store tests: messages, a TCP proxy that can cut a database off, a claiming process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sns_subscriber.stores import NewMessage, open_store

TOPIC = "arn:aws:sns:eu-west-1:123456789012:budgets"


def message(message_id: str, **overrides: Any) -> NewMessage:
    fields: dict[str, Any] = {
        "message_id": message_id,
        "endpoint": "/budget-subscriber",
        "topic_arn": TOPIC,
        "message_type": "Notification",
        "subject": f"subject of {message_id}",
        "body": f'{{"MessageId": "{message_id}"}}'.encode(),
    }
    fields.update(overrides)
    return NewMessage(**fields)


class TCPProxy:
    """Forwards 127.0.0.1:<port> to a target; ``stop()`` cuts every connection, like an outage."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.port = port
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TCPProxy:
        self._stopping.clear()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept, self._listener)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        for sock in sockets:
            sock.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._stopping.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def claim_in_process(
    url: str, options: dict[str, Any], worker_id: str, rendezvous: str, peers: int
) -> list[str]:
    """Run in a spawned process: wait for the peers, then claim and complete until empty."""
    store = open_store(url, **options)
    try:
        here = Path(rendezvous)
        (here / worker_id).touch()
        deadline = time.monotonic() + 30
        while len(list(here.iterdir())) < peers and time.monotonic() < deadline:
            time.sleep(0.005)
        claimed: list[str] = []
        idle_rounds = 0
        while idle_rounds < 3:
            records = store.claim(worker_id, limit=3, lease_seconds=300)
            if not records:
                idle_rounds += 1
                time.sleep(0.01)
                continue
            idle_rounds = 0
            for record in records:
                claimed.append(record.message_id)
                store.complete(record.message_id, worker_id)
            time.sleep(0.002)  # some work, so the peers interleave
        return claimed
    finally:
        store.close()
