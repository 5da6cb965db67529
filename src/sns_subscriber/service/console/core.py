"""What the console's pages and API share: settings, the store's reads behind a small
cache, rendering, and strict reading of request input."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ...confirmation import Confirmer
from ...stores.base import (
    InboxStatus,
    InboxStore,
    MessageFilter,
    OverviewStats,
    PageCursor,
    SubscriptionRecord,
    SubscriptionState,
)
from ..operations import confirm_pending
from . import views
from .auth import SESSION_COOKIE, ConsoleAuth, Session
from .views import BadRequest

__all__ = ["Console", "ConsoleSettings"]

logger = logging.getLogger("sns_subscriber.console")

HERE: Final = Path(__file__).parent
_MAX_FORM: Final = 16_384
_MAX_JSON: Final = 16_384
#: The overview's statistics are at most this many seconds old.
STATS_TTL: Final = 5.0
STATS_SAMPLE: Final = 5_000
STATS_CAP: Final = 10_000
_NOTICES: Final = {
    "replayed": "The message is queued again; the worker picks it up shortly.",
    "confirmed": "The subscription is confirmed.",
    "logged-out": "You are logged out.",
}


class ConsoleSettings:
    """What the console needs besides the store: the token and how to confirm per endpoint."""

    def __init__(
        self,
        *,
        token: str,
        session_hours: float = 8.0,
        confirm_modes: Mapping[str, str] | None = None,
        confirmer: Callable[[str], Confirmer] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.auth = ConsoleAuth(token, session_seconds=session_hours * 3600)
        self.confirm_modes = dict(confirm_modes or {})
        #: Builds the confirmer of a mode (None: the library's default).
        self.confirmer = confirmer
        self.clock = clock or (lambda: datetime.now(UTC))

    def confirm_mode(self, endpoint: str) -> str:
        # A "manual" endpoint is confirmed by visiting the checked SubscribeURL, as the CLI does.
        mode = self.confirm_modes.get(endpoint, "url")
        return mode if mode in ("api", "url", "auto") else "url"


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda value: "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")
    env.filters["iso"] = lambda value: "" if value is None else views.iso(value)
    env.filters["qs"] = urlencode
    env.filters["path"] = lambda value: quote(str(value), safe="")
    env.filters["percent"] = lambda value: "—" if value is None else f"{value * 100:.1f}%"
    return env


class Console:
    """The console's state: the store, the settings, the templates and the statistics cache."""

    def __init__(self, store: InboxStore, settings: ConsoleSettings) -> None:
        self.store = store
        self.settings = settings
        self.auth = settings.auth
        self.templates = _templates()
        self._stats_lock = threading.Lock()
        self._stats: tuple[float, OverviewStats] | None = None  # (computed at, figures)
        self._refreshing = threading.Event()

    # -- requests and pages ------------------------------------------------------------------

    @staticmethod
    def is_https(request: Request) -> bool:
        return request.url.scheme == "https"

    def session_of(self, request: Request) -> Session | None:
        return self.auth.session(request.cookies.get(SESSION_COOKIE))

    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        session = self.session_of(request)
        html = self.templates.get_template(name).render(
            csrf=self.auth.csrf_token(session) if session else "",
            logged_in=session is not None,
            notice=_NOTICES.get(request.query_params.get("notice", "")),
            path=request.url.path,
            statuses=[s.value for s in InboxStatus],
            producers=views.PRODUCER_NAMES,
            statuses_enum=InboxStatus,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, status: int, title: str, detail: str) -> HTMLResponse:
        return self.render(request, "error.html", {"title": title, "detail": detail}, status)

    @staticmethod
    def listing(params: Mapping[str, str], **fixed: Any) -> tuple[MessageFilter, PageCursor | None, int]:
        """The filter, cursor and page size of a listing's query parameters."""
        where = views.build_filter(params)
        if fixed:
            where = MessageFilter(**{**as_kwargs(where), **fixed})
        return where, views.decode_cursor(params.get("cursor")), views.parse_limit(params)

    # -- reads and operations (blocking: called in the thread pool) ----------------------------

    def stats(self) -> OverviewStats:
        """Bounded, but the dearest read (about half a second on 1,000,000 messages): computed
        at most once per STATS_TTL seconds, in the background once there is a first result,
        so no page waits for it however many browsers refresh."""
        with self._stats_lock:
            current = self._stats
            stale = current is None or time.monotonic() - current[0] >= STATS_TTL
            start_refresh = stale and current is not None and not self._refreshing.is_set()
            if start_refresh:
                self._refreshing.set()
        if current is None:
            return self._compute_stats()
        if start_refresh:
            threading.Thread(target=self._refresh_stats, name="console-stats", daemon=True).start()
        return current[1]

    def _compute_stats(self) -> OverviewStats:
        snapshot = self.store.overview(until=self.settings.clock(), sample=STATS_SAMPLE, cap=STATS_CAP)
        with self._stats_lock:
            self._stats = (time.monotonic(), snapshot)
        return snapshot

    def _refresh_stats(self) -> None:
        try:
            self._compute_stats()
        except Exception:  # the next request tries again; the stale figures stay meanwhile
            logger.exception("console: computing the inbox statistics failed")
        finally:
            self._refreshing.clear()

    def current_subscriptions(self, state: SubscriptionState | None) -> list[SubscriptionRecord]:
        return views.subscriptions_view(self.store.list_subscriptions(), state)

    def detail(self, message_id: str) -> views.MessageDetail | None:
        record = self.store.get(message_id)
        if record is None:
            return None
        return views.message_detail(record, self.store.list_actions([message_id]))

    def confirm(self, subscription_id: int) -> SubscriptionRecord:
        record = self.store.get_subscription(subscription_id)
        mode = self.settings.confirm_mode(record.endpoint if record else "")
        return confirm_pending(self.store, subscription_id, mode=mode, confirmer=self.settings.confirmer)

    def budgets(self) -> list[views.BudgetView]:
        page = self.store.find_messages(MessageFilter(producer="budgets"), limit=200)
        records = [r for r in (self.store.get(m.message_id) for m in page.messages) if r is not None]
        return views.budgets_view(records, self.store.list_actions([r.message_id for r in records]))


def as_kwargs(where: MessageFilter) -> dict[str, Any]:
    return {name: getattr(where, name) for name in MessageFilter.__dataclass_fields__}


# -- reading request input ------------------------------------------------------------------


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BadRequest(f"the request body must be at most {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(f"the request body must be at most {limit} bytes")
    return body


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind the pages send), size-capped."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequest("forms must be sent as application/x-www-form-urlencoded")
    body = await read_limited(request, _MAX_FORM)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form does not parse") from None
    return dict(pairs)


async def read_json(request: Request) -> dict[str, Any]:
    body = await read_limited(request, _MAX_JSON)
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def query_params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in allowed:
            raise BadRequest(f"unknown parameter {key[:40]!r} (known: {', '.join(allowed)})")
        if key in params:
            raise BadRequest(f"parameter {key} given twice")
        params[key] = value
    return params


def safe_next(value: str | None) -> str:
    """Only a path on this console: never an absolute or scheme-relative URL (open redirect)."""
    if not value or len(value) > 1000 or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    return value


def int_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest("a subscription id is a positive integer")
    return int(text)
