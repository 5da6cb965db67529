"""How ``serve`` runs uvicorn: its options from the configuration, and the connection limits
uvicorn lacks.

uvicorn bounds neither the time a client may take to send its request line and headers nor the
number of connections that are still sending them: a client that opens connections and sends a
byte now and then ("slowloris") holds each one, and a file descriptor, for ever. Its own
``limit_concurrency`` does not help: it answers 503 to every new request while that many
connections are open, idle ones included, so the idle connections would lock SNS out.

:func:`protocol_class` adds both to uvicorn's HTTP/1.1 protocols (h11 and httptools):

- a header deadline: a connection whose request head is not complete within
  ``header_timeout`` seconds of its opening (or of the end of its previous response) is closed,
  with a 408 when it had started sending one;
- a head size cap (:data:`MAX_HEAD_BYTES`, 431 and close): httptools accepts header lines
  without end, each kept in memory;
- a connection cap: past ``max_connections`` open connections, a new one closes the oldest
  connection that is still waiting for a request head (an idle keep-alive one or a slow
  client), so a flood of idle connections cannot keep a real delivery out; when every
  connection is busy with a request, the new one is closed at once.

Body deadlines are the endpoint's (``SNSEndpoint(body_timeout=...)``: 408 and close), because
uvicorn hands the body to the application as it arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

    from .config import Config

__all__ = ["MAX_HEAD_BYTES", "fit_descriptor_limit", "protocol_class", "uvicorn_config"]

logger = logging.getLogger("sns_subscriber.service")

#: Largest request line plus headers: SNS sends about 1 KiB. httptools has no limit of its own
#: (a client could send headers until memory runs out); h11's is set to the same.
MAX_HEAD_BYTES = 32 * 1024


def _plain_answer(status: bytes, text: bytes) -> bytes:
    """A complete response written straight to the transport (no request to answer through
    the application), closing the connection."""
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text
    )


_HEAD_TOO_LARGE = _plain_answer(b"431 Request Header Fields Too Large", b"request head is too large")
_REQUEST_TIMEOUT = _plain_answer(b"408 Request Timeout", b"request head not received")


def protocol_class(http: str, *, header_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol ``http`` (``auto``, ``httptools`` or ``h11``) with a header
    deadline and a connection cap. Each call makes a class with its own set of connections."""
    base: type[Any]
    if http == "h11" or (http == "auto" and not _has_httptools()):
        from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: PLC0415

        base = H11Protocol
    else:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: PLC0415

        base = HttpToolsProtocol

    # Connections waiting for a request head, oldest first: the ones to close first.
    waiting: OrderedDict[Any, None] = OrderedDict()

    class Guarded(base):  # type: ignore[misc]
        _head_timer: asyncio.TimerHandle | None = None
        _head_cycle: object = None
        _head_bytes = False
        _head_size = 0

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                # The oldest connection still owing us a request head makes room; when there
                # is none, every connection is serving a request and this one waits its turn
                # by reconnecting.
                victim = next(iter(waiting), None)
                if victim is None:
                    logger.warning("connection limit (%d) reached; closing a new connection", max_connections)
                    self._evict()
                    return
                victim._evict()
            self._await_head()

        def data_received(self, data: bytes) -> None:
            if self._head_timer is None and _idle(self.cycle):
                self._await_head()  # the first bytes of a pipelined or kept-alive request
            self._head_bytes = True
            super().data_received(data)
            if self._head_timer is None:
                return
            if self.cycle is not self._head_cycle:
                self._drop_waiting()  # the request head is complete
                return
            self._head_size += len(data)
            if self._head_size > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._drop_waiting()
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and _idle(self.cycle):
                self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._drop_waiting()
            super().connection_lost(exc)

        def _evict(self) -> None:
            # Out of the server's count now, not when the transport reports the close later:
            # uvicorn's own limit reads that count for the request arriving meanwhile.
            self._drop_waiting()
            self.connections.discard(self)
            self.transport.close()

        def _await_head(self) -> None:
            if self._head_timer is not None:
                return
            self._head_cycle = self.cycle
            self._head_bytes = False
            self._head_size = 0
            self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)
            waiting[self] = None

        def _drop_waiting(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            waiting.pop(self, None)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            waiting.pop(self, None)
            if self.transport.is_closing() or self.cycle is not self._head_cycle:
                return
            if self._head_bytes:
                self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


def _idle(cycle: Any) -> bool:
    """No request in progress on the connection (none yet, or the last one answered)."""
    return cycle is None or bool(cycle.response_complete)


def _has_httptools() -> bool:
    try:
        import httptools  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


#: Descriptors kept for everything but client connections: the listeners, the store's files
#: and connections, the event loop's own, logging, certificate fetches.
_RESERVED_DESCRIPTORS = 64


def fit_descriptor_limit(max_connections: int) -> int:
    """The connection cap this process can honour: the soft descriptor limit is raised (up to
    the hard one) to fit ``max_connections``; if it cannot be, the cap is lowered to fit, so
    the cap, not ``accept()`` failing with EMFILE, is what turns connections away."""
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + _RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(1, soft - _RESERVED_DESCRIPTORS)
        logger.warning(
            "service.max_connections %d does not fit the open-file limit %d; serving at most %d connections",
            max_connections,
            soft,
            fitted,
        )
        return fitted
    return max_connections


def uvicorn_config(
    app: Any, config: Config, *, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """The uvicorn configuration ``serve`` runs with."""
    import uvicorn  # noqa: PLC0415

    max_connections = fit_descriptor_limit(config.get("service.max_connections"))
    return uvicorn.Config(
        app,
        host=host or config.get("service.host"),
        port=port if port is not None else config.get("service.port"),
        http=protocol_class(
            config.get("service.http"),
            header_timeout=config.get("service.header_timeout_seconds"),
            max_connections=max_connections,
        ),
        # One above our own cap: uvicorn's check counts idle connections too and would answer
        # 503 to a real delivery while slow clients hold the rest; the cap above closes those.
        # It still bounds the request tasks (a task can outlive its connection).
        limit_concurrency=max_connections + 1,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        # No WebSocket routes: an Upgrade request is an ordinary (refused) HTTP request.
        ws="none",
        timeout_keep_alive=config.get("service.keep_alive_seconds"),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
        server_header=False,
    )
