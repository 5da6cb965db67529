"""The console's ASGI application: server-rendered pages for browsers, a JSON API for scripts.

It reads through the store's console queries (keyset pages, bounded statistics) and writes
only through :mod:`sns_subscriber.service.operations`, the code the CLI runs. Pages work
without JavaScript; every value that came in a message is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...exceptions import SNSSubscriberError, StoreUnavailableError
from ...stores.base import InboxStatus, InboxStore, MessageFilter, SubscriptionState
from ..operations import NotFoundError, WrongStateError, confirm_pending, replay_message
from . import views
from .auth import LOGIN_COOKIE, SESSION_COOKIE, ConsoleAuth, Session
from .views import BadRequest

__all__ = ["ConsoleSettings", "create_console_app"]

logger = logging.getLogger("sns_subscriber.console")

HERE: Final = Path(__file__).parent
_MAX_FORM: Final = 16_384
_MAX_JSON: Final = 16_384
_STATIC_CACHE: Final = "public, max-age=3600"
#: The overview's statistics are at most this many seconds old.
STATS_TTL: Final = 5.0
STATS_SAMPLE: Final = 5_000
STATS_CAP: Final = 10_000
_SECURITY_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_FINAL: Final = (InboxStatus.DONE, InboxStatus.DEAD)
_NOTICES: Final = {
    "replayed": "The message is queued again; the worker picks it up shortly.",
    "confirmed": "The subscription is confirmed.",
    "logged-out": "You are logged out.",
}


_Page = Callable[[Request, Session], Awaitable[Response]]
_Api = Callable[[Request], Awaitable[Response]]


class ConsoleSettings:
    """What the console needs besides the store: the token and how to confirm per endpoint."""

    def __init__(
        self,
        *,
        token: str,
        session_hours: float = 8.0,
        confirm_modes: Mapping[str, str] | None = None,
        trusted_hosts: frozenset[str] = frozenset(),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.auth = ConsoleAuth(token, session_seconds=session_hours * 3600)
        self.confirm_modes = dict(confirm_modes or {})
        self.trusted_hosts = trusted_hosts
        self.clock = clock or (lambda: datetime.now(UTC))

    def confirm_mode(self, endpoint: str) -> str:
        # A "manual" endpoint is confirmed by visiting the checked SubscribeURL, as the CLI does.
        mode = self.confirm_modes.get(endpoint, "url")
        return mode if mode in ("api", "url", "auto") else "url"


def _security_headers(app: Any) -> Any:
    """Add the security headers to every response; pages and API answers are never cached."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"server")
                ]
                headers += list(_SECURITY_HEADERS)
                headers.append((b"cache-control", _STATIC_CACHE.encode() if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


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


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BadRequest(f"the request body must be at most {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(f"the request body must be at most {limit} bytes")
    return body


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind the pages send), size-capped."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequest("forms must be sent as application/x-www-form-urlencoded")
    body = await _read_limited(request, _MAX_FORM)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form does not parse") from None
    return dict(pairs)


async def _json_body(request: Request) -> dict[str, Any]:
    body = await _read_limited(request, _MAX_JSON)
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def _query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in allowed:
            raise BadRequest(f"unknown parameter {key[:40]!r} (known: {', '.join(allowed)})")
        if key in params:
            raise BadRequest(f"parameter {key} given twice")
        params[key] = value
    return params


def _safe_next(value: str | None) -> str:
    """Only a path on this console: never an absolute or scheme-relative URL (open redirect)."""
    if not value or len(value) > 1000 or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    return value


def create_console_app(store: InboxStore, settings: ConsoleSettings) -> Any:
    """The console as an ASGI app over ``store``."""
    auth = settings.auth
    templates = _templates()

    # -- helpers -------------------------------------------------------------------------------

    def is_https(request: Request) -> bool:
        return request.url.scheme == "https"

    def session_of(request: Request) -> Session | None:
        return auth.session(request.cookies.get(SESSION_COOKIE))

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        session = session_of(request)
        notice = _NOTICES.get(request.query_params.get("notice", ""))
        html = templates.get_template(name).render(
            csrf=auth.csrf_token(session) if session else "",
            logged_in=session is not None,
            notice=notice,
            path=request.url.path,
            statuses=[s.value for s in InboxStatus],
            producers=views.PRODUCER_NAMES,
            statuses_enum=InboxStatus,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
        return render(request, "error.html", {"title": title, "detail": detail}, status)

    def page(handler: _Page, *, state_changing: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = session_of(request)
            if session is None:
                if state_changing:
                    return error_page(request, 403, "Not logged in", "Log in again, then repeat the action.")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            try:
                return await handler(request, session)
            except BadRequest as exc:
                return error_page(request, 400, "Bad request", str(exc))
            except StoreUnavailableError as exc:
                return error_page(request, 503, "Store unavailable", exc.reason)

        return endpoint

    async def checked_form(request: Request, session: Session) -> dict[str, str] | Response:
        try:
            form = await _form(request)
        except BadRequest:
            form = {}  # no readable form, so no CSRF token either
        if not auth.csrf_ok(session, form.get("csrf")):
            return error_page(
                request, 403, "Refused", "The form is missing its CSRF token or it is not this session's."
            )
        return form

    def api(handler: _Api) -> _Api:
        async def endpoint(request: Request) -> Response:
            if not auth.bearer_ok(request.headers.get("authorization")):
                return JSONResponse(
                    {"error": "unauthorized", "detail": "send Authorization: Bearer <console token>"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="sns-subscriber console"'},
                )
            try:
                return await handler(request)
            except BadRequest as exc:
                return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
            except NotFoundError as exc:
                return JSONResponse({"error": "not_found", "detail": str(exc)}, status_code=404)
            except WrongStateError as exc:
                return JSONResponse({"error": "conflict", "detail": str(exc)}, status_code=409)
            except StoreUnavailableError as exc:
                return JSONResponse({"error": "store_unavailable", "detail": exc.reason}, status_code=503)

        return endpoint

    def listing(params: Mapping[str, str], **fixed: Any) -> tuple[MessageFilter, Any, int]:
        where = views.build_filter(params)
        if fixed:
            where = MessageFilter(**{**_as_kwargs(where), **fixed})
        return where, views.decode_cursor(params.get("cursor")), views.parse_limit(params)

    stats_lock = threading.Lock()
    cached: list[tuple[float, Any]] = []  # at most one (computed at, stats) entry
    refreshing = threading.Event()

    def compute_stats() -> Any:
        snapshot = store.stats(until=settings.clock(), sample=STATS_SAMPLE, cap=STATS_CAP)
        with stats_lock:
            cached[:] = [(time.monotonic(), snapshot)]
        return snapshot

    def refresh_in_background() -> None:
        try:
            compute_stats()
        except Exception:  # the next request tries again; the stale figures stay meanwhile
            logger.exception("console: computing the inbox statistics failed")
        finally:
            refreshing.clear()

    def stats() -> Any:
        # Bounded, but the dearest read (about half a second on 1,000,000 messages): computed
        # at most once per STATS_TTL seconds, in the background once there is a first result,
        # so no page waits for it however many browsers refresh.
        with stats_lock:
            current = cached[0] if cached else None
            stale = current is None or time.monotonic() - current[0] >= STATS_TTL
            start_refresh = stale and current is not None and not refreshing.is_set()
            if start_refresh:
                refreshing.set()
        if current is None:
            return compute_stats()
        if start_refresh:
            threading.Thread(target=refresh_in_background, name="console-stats", daemon=True).start()
        return current[1]

    def current_subscriptions(state: SubscriptionState | None) -> list[Any]:
        return views.subscriptions_view(store.list_subscriptions(), state)

    def detail(message_id: str) -> views.MessageDetail | None:
        record = store.get(message_id)
        if record is None:
            return None
        return views.message_detail(record, store.list_actions([message_id]))

    def confirm(subscription_id: int) -> Any:
        record = store.get_subscription(subscription_id)
        mode = settings.confirm_mode(record.endpoint if record else "")
        return confirm_pending(store, subscription_id, mode=mode, trusted_hosts=settings.trusted_hosts)

    def budgets() -> list[views.BudgetView]:
        page = store.find_messages(MessageFilter(producer="budgets"), limit=200)
        records = [r for r in (store.get(m.message_id) for m in page.messages) if r is not None]
        return views.budgets_view(records, store.list_actions([r.message_id for r in records]))

    # -- login -------------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        nonce = auth.login_nonce()
        response = render(
            request,
            "login.html",
            {"login_nonce": nonce, "next": _safe_next(request.query_params.get("next"))},
        )
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=600, httponly=True, samesite="strict", secure=is_https(request)
        )
        return response

    async def login(request: Request) -> Response:
        try:
            form = await _form(request)
        except BadRequest as exc:
            return error_page(request, 400, "Bad request", str(exc))
        if not auth.login_nonce_ok(request.cookies.get(LOGIN_COOKIE), form.get("login_nonce")):
            return error_page(
                request, 403, "Refused", "The login form expired or was not sent by this console."
            )
        if not auth.token_matches(form.get("token", "")):
            await asyncio.sleep(0.5)  # slows guessing; the token's length does the rest
            logger.warning("console login refused from %s", request.client.host if request.client else "?")
            nonce = auth.login_nonce()
            response = render(
                request,
                "login.html",
                {
                    "login_nonce": nonce,
                    "next": _safe_next(form.get("next")),
                    "error": "That token is not valid.",
                },
                401,
            )
            response.set_cookie(
                LOGIN_COOKIE, nonce, max_age=600, httponly=True, samesite="strict", secure=is_https(request)
            )
            return response
        done = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        done.set_cookie(
            SESSION_COOKIE,
            auth.new_session(),
            max_age=auth.session_seconds,
            httponly=True,
            samesite="strict",
            secure=is_https(request),
            path="/",
        )
        done.delete_cookie(LOGIN_COOKIE)
        return done

    async def logout(request: Request, session: Session) -> Response:
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        response = RedirectResponse("/login?notice=logged-out", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -- pages -------------------------------------------------------------------------------

    async def overview(request: Request, session: Session) -> Response:
        _query(request, ("notice",))
        snapshot = await run_in_threadpool(stats)
        pending = await run_in_threadpool(current_subscriptions, SubscriptionState.PENDING)
        return render(
            request, "overview.html", {"stats": snapshot, "pending": pending, "chart": _chart(snapshot)}
        )

    async def messages_page(request: Request, session: Session) -> Response:
        params = _query(request, (*views.FILTER_KEYS, "cursor", "limit", "notice"))
        where, cursor, limit = listing(params)
        page_ = await run_in_threadpool(store.find_messages, where, limit=limit, after=cursor)
        return render(request, "messages.html", _listing_context(where, page_, limit, title="Messages"))

    async def dead_page(request: Request, session: Session) -> Response:
        params = _query(request, (*views.FILTER_KEYS, "cursor", "limit", "notice", "replayed"))
        params.pop("status", None)
        where, cursor, limit = listing(params, status=InboxStatus.DEAD)
        page_ = await run_in_threadpool(store.find_messages, where, limit=limit, after=cursor)
        replayed = params.get("replayed", "")
        context = _listing_context(where, page_, limit, title="Dead letters")
        context["replayed"] = int(replayed) if replayed.isdigit() and len(replayed) < 10 else None
        return render(request, "dead.html", context)

    async def message_page(request: Request, session: Session) -> Response:
        _query(request, ("notice",))
        found = await run_in_threadpool(detail, request.path_params["message_id"])
        if found is None:
            return error_page(request, 404, "No such message", "The inbox holds no message with this id.")
        return render(request, "message.html", {"m": found, "final": found.record.status in _FINAL})

    async def replay_one(request: Request, session: Session) -> Response:
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        message_id = request.path_params["message_id"]
        try:
            await run_in_threadpool(replay_message, store, message_id, force=form.get("force") == "on")
        except NotFoundError as exc:
            return error_page(request, 404, "No such message", str(exc))
        except WrongStateError as exc:
            return error_page(request, 409, "Nothing to replay", str(exc))
        return RedirectResponse(f"/messages/{quote(message_id, safe='')}?notice=replayed", status_code=303)

    async def replay_confirm(request: Request, session: Session) -> Response:
        params = _query(request, views.FILTER_KEYS)
        where = views.build_filter(params)
        preview = await run_in_threadpool(store.find_messages, _finished(where), limit=200)
        return render(
            request,
            "replay.html",
            {"where": views.filter_params(where), "preview": preview, "described": _describe(where)},
        )

    async def replay_many(request: Request, session: Session) -> Response:
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        force = form.pop("force", "") == "on"
        form.pop("csrf", None)
        where = views.build_filter({k: v for k, v in form.items() if k in views.FILTER_KEYS})
        count = await run_in_threadpool(store.replay_matching, where, force=force)
        logger.info("console: replayed %d message(s) matching %s", count, views.filter_params(where))
        return RedirectResponse(f"/dead?replayed={count}", status_code=303)

    async def subscriptions_page(request: Request, session: Session) -> Response:
        params = _query(request, ("status", "notice"))
        state = views.parse_subscription_state(params.get("status"))
        current = await run_in_threadpool(current_subscriptions, state)
        return render(
            request,
            "subscriptions.html",
            {
                "subscriptions": current,
                "state": state.value if state else "",
                "states": [s.value for s in SubscriptionState],
            },
        )

    async def confirm_page(request: Request, session: Session) -> Response:
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        subscription_id = _int_id(request.path_params["subscription_id"])
        try:
            await run_in_threadpool(confirm, subscription_id)
        except NotFoundError as exc:
            return error_page(request, 404, "No such subscription", str(exc))
        except WrongStateError as exc:
            return error_page(request, 409, "Not pending", str(exc))
        except SNSSubscriberError as exc:
            return error_page(request, 502, "Confirmation failed", exc.reason)
        return RedirectResponse("/subscriptions?notice=confirmed", status_code=303)

    async def budgets_page(request: Request, session: Session) -> Response:
        _query(request, ("notice",))
        found = await run_in_threadpool(budgets)
        return render(request, "budgets.html", {"budgets": found})

    # -- JSON API ------------------------------------------------------------------------------

    async def api_messages(request: Request) -> Response:
        params = _query(request, (*views.FILTER_KEYS, "cursor", "limit"))
        where, cursor, limit = listing(params)
        found = await run_in_threadpool(store.find_messages, where, limit=limit, after=cursor)
        return JSONResponse(
            {
                "messages": [views.summary_json(m) for m in found.messages],
                "next_cursor": views.encode_cursor(found.next_cursor),
            }
        )

    async def api_message(request: Request) -> Response:
        _query(request, ())
        found = await run_in_threadpool(detail, request.path_params["message_id"])
        if found is None:
            raise NotFoundError("no message with this id in the inbox")
        return JSONResponse(found.as_json())

    async def api_replay_one(request: Request) -> Response:
        body = await _json_body(request)
        force = body.pop("force", False)
        if body or not isinstance(force, bool):
            raise BadRequest('the body is {"force": true|false} (optional)')
        message_id = request.path_params["message_id"]
        await run_in_threadpool(replay_message, store, message_id, force=force)
        return JSONResponse({"message_id": message_id, "status": "received"})

    async def api_replay_many(request: Request) -> Response:
        body = await _json_body(request)
        force = body.pop("force", False)
        if not isinstance(force, bool):
            raise BadRequest("force must be true or false")
        unknown = [k for k in body if k not in views.FILTER_KEYS]
        if unknown or not all(isinstance(v, str) for v in body.values()):
            raise BadRequest(f"the filter takes string values for {', '.join(views.FILTER_KEYS)}")
        where = views.build_filter(body)
        count = await run_in_threadpool(store.replay_matching, where, force=force)
        logger.info("console API: replayed %d message(s) matching %s", count, views.filter_params(where))
        return JSONResponse({"replayed": count})

    async def api_subscriptions(request: Request) -> Response:
        params = _query(request, ("status",))
        state = views.parse_subscription_state(params.get("status"))
        current = await run_in_threadpool(current_subscriptions, state)
        return JSONResponse({"subscriptions": [views.subscription_json(s) for s in current]})

    async def api_confirm(request: Request) -> Response:
        await _json_body(request)
        subscription_id = _int_id(request.path_params["subscription_id"])
        try:
            record = await run_in_threadpool(confirm, subscription_id)
        except (NotFoundError, WrongStateError, StoreUnavailableError):
            raise
        except SNSSubscriberError as exc:
            return JSONResponse({"error": "confirmation_failed", "detail": exc.reason}, status_code=502)
        return JSONResponse({"subscription": views.subscription_json(record)})

    async def api_stats(request: Request) -> Response:
        _query(request, ())
        snapshot = await run_in_threadpool(stats)
        return JSONResponse(_stats_json(snapshot))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not_found" if status == 404 else "http_error"}, status_code=status)
        return error_page(
            request, status, "Not found" if status == 404 else "Refused", "There is nothing here."
        )

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(logout, state_changing=True), methods=["POST"]),
        Route("/", page(overview), methods=["GET"]),
        Route("/messages", page(messages_page), methods=["GET"]),
        Route("/messages/{message_id}", page(message_page), methods=["GET"]),
        Route("/messages/{message_id}/replay", page(replay_one, state_changing=True), methods=["POST"]),
        Route("/dead", page(dead_page), methods=["GET"]),
        Route("/replay", page(replay_confirm), methods=["GET"]),
        Route("/replay", page(replay_many, state_changing=True), methods=["POST"]),
        Route("/subscriptions", page(subscriptions_page), methods=["GET"]),
        Route(
            "/subscriptions/{subscription_id}/confirm",
            page(confirm_page, state_changing=True),
            methods=["POST"],
        ),
        Route("/budgets", page(budgets_page), methods=["GET"]),
        Route("/api/messages", api(api_messages), methods=["GET"]),
        Route("/api/messages/{message_id}", api(api_message), methods=["GET"]),
        Route("/api/messages/{message_id}/replay", api(api_replay_one), methods=["POST"]),
        Route("/api/replay", api(api_replay_many), methods=["POST"]),
        Route("/api/subscriptions", api(api_subscriptions), methods=["GET"]),
        Route("/api/subscriptions/{subscription_id}/confirm", api(api_confirm), methods=["POST"]),
        Route("/api/stats", api(api_stats), methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return _security_headers(app)


# -- small pure helpers ---------------------------------------------------------------------


def _as_kwargs(where: MessageFilter) -> dict[str, Any]:
    return {name: getattr(where, name) for name in MessageFilter.__dataclass_fields__}


def _finished(where: MessageFilter) -> MessageFilter:
    """The preview of a bulk replay shows what it would replay: done or dead messages only."""
    if where.status is not None:
        return where
    return MessageFilter(**{**_as_kwargs(where), "status": InboxStatus.DEAD})


def _int_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest("a subscription id is a positive integer")
    return int(text)


def _describe(where: MessageFilter) -> list[tuple[str, str]]:
    return list(views.filter_params(where).items())


def _listing_context(where: MessageFilter, page: Any, limit: int, *, title: str) -> dict[str, Any]:
    params = views.filter_params(where)
    next_cursor = views.encode_cursor(page.next_cursor)
    return {
        "title": title,
        "where": params,
        "messages": page.messages,
        "limit": limit,
        "next_link": urlencode({**params, "cursor": next_cursor, "limit": limit}) if next_cursor else None,
        "first_link": urlencode(params),
    }


def _stats_json(stats: Any) -> dict[str, Any]:
    return {
        "totals": {status.value: count for status, count in stats.totals.items()},
        "cap": stats.cap,
        "sample": stats.sample,
        "traffic": {
            "since": views.iso(stats.since),
            "until": views.iso(stats.until),
            "buckets": stats.traffic,
        },
        "groups": [
            {
                "endpoint": g.endpoint,
                "topic_arn": g.topic_arn,
                "open": {s.value: n for s, n in g.open.items()},
                "recent": {s.value: n for s, n in g.recent.items()},
                "error_rate": g.error_rate,
                "last_received_at": views.iso(g.last_received_at) if g.last_received_at else None,
            }
            for g in stats.groups
        ],
    }


def _chart(stats: Any) -> dict[str, Any]:
    """Bar geometry for the inline SVG traffic chart (drawn by the template, no script)."""
    width, height, gap = 480, 90, 2
    buckets = stats.traffic
    peak = max(buckets) if buckets and max(buckets) > 0 else 1
    bar = width / max(len(buckets), 1)
    step = (stats.until - stats.since) / max(len(buckets), 1)
    bars = []
    for index, count in enumerate(buckets):
        h = round(count / peak * (height - 14), 1) if count else 0
        start = stats.since + step * index
        bars.append(
            {
                "x": round(index * bar + gap / 2, 1),
                "y": round(height - h, 1),
                "w": round(bar - gap, 1),
                "h": h,
                "label": f"{count} message(s) received {start:%H:%M}–{start + step:%H:%M} UTC",
            }
        )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "peak": max(buckets) if buckets else 0,
        "total": sum(buckets),
        "hours": round((stats.until - stats.since) / timedelta(hours=1)),
    }
