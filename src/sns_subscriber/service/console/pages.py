"""The console's pages: server-rendered HTML for browsers, with a session cookie and CSRF tokens.

Every page works without JavaScript. A browser without a session is sent to ``/login``; a
state-changing form without this session's CSRF token is refused with 403.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...exceptions import SNSSubscriberError, StoreUnavailableError
from ...stores.base import InboxStatus, MessageFilter, SubscriptionState
from ..operations import NotFoundError, WrongStateError, replay_message
from . import views
from .auth import LOGIN_COOKIE, SESSION_COOKIE, Session
from .core import Console, as_kwargs, int_id, logger, query_params, read_form, safe_next
from .views import BadRequest

__all__ = ["page_routes"]

_FINAL: Final = (InboxStatus.DONE, InboxStatus.DEAD)
_Page = Callable[[Request, Session], Awaitable[Response]]


def page_routes(console: Console) -> list[BaseRoute]:
    """The routes of every page, bound to ``console``."""

    def page(handler: _Page, *, state_changing: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = console.session_of(request)
            if session is None:
                if state_changing:
                    return console.error_page(
                        request, 403, "Not logged in", "Log in again, then repeat the action."
                    )
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            try:
                return await handler(request, session)
            except BadRequest as exc:
                return console.error_page(request, 400, "Bad request", str(exc))
            except StoreUnavailableError as exc:
                return console.error_page(request, 503, "Store unavailable", exc.reason)

        return endpoint

    async def checked_form(request: Request, session: Session) -> dict[str, str] | Response:
        try:
            form = await read_form(request)
        except BadRequest:
            form = {}  # no readable form, so no CSRF token either
        if not console.auth.csrf_ok(session, form.get("csrf")):
            return console.error_page(
                request, 403, "Refused", "The form is missing its CSRF token or it is not this session's."
            )
        return form

    # -- login -------------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        nonce = console.auth.login_nonce()
        response = console.render(
            request,
            "login.html",
            {"login_nonce": nonce, "next": safe_next(request.query_params.get("next"))},
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=600,
            httponly=True,
            samesite="strict",
            secure=console.is_https(request),
        )
        return response

    async def login(request: Request) -> Response:
        try:
            form = await read_form(request)
        except BadRequest as exc:
            return console.error_page(request, 400, "Bad request", str(exc))
        if not console.auth.login_nonce_ok(request.cookies.get(LOGIN_COOKIE), form.get("login_nonce")):
            return console.error_page(
                request, 403, "Refused", "The login form expired or was not sent by this console."
            )
        if not console.auth.token_matches(form.get("token", "")):
            await asyncio.sleep(0.5)  # slows guessing; the token's length does the rest
            logger.warning("console login refused from %s", request.client.host if request.client else "?")
            nonce = console.auth.login_nonce()
            response = console.render(
                request,
                "login.html",
                {
                    "login_nonce": nonce,
                    "next": safe_next(form.get("next")),
                    "error": "That token is not valid.",
                },
                401,
            )
            response.set_cookie(
                LOGIN_COOKIE,
                nonce,
                max_age=600,
                httponly=True,
                samesite="strict",
                secure=console.is_https(request),
            )
            return response
        done = RedirectResponse(safe_next(form.get("next")), status_code=303)
        done.set_cookie(
            SESSION_COOKIE,
            console.auth.new_session(),
            max_age=console.auth.session_seconds,
            httponly=True,
            samesite="strict",
            secure=console.is_https(request),
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
        query_params(request, ("notice",))
        snapshot = await run_in_threadpool(console.stats)
        pending = await run_in_threadpool(console.current_subscriptions, SubscriptionState.PENDING)
        return console.render(
            request, "overview.html", {"stats": snapshot, "pending": pending, "chart": _chart(snapshot)}
        )

    async def messages_page(request: Request, session: Session) -> Response:
        params = query_params(request, (*views.FILTER_KEYS, "cursor", "limit", "notice"))
        where, cursor, limit = console.listing(params)
        page_ = await run_in_threadpool(console.store.find_messages, where, limit=limit, after=cursor)
        return console.render(
            request, "messages.html", _listing_context(where, page_, limit, title="Messages")
        )

    async def dead_page(request: Request, session: Session) -> Response:
        params = query_params(request, (*views.FILTER_KEYS, "cursor", "limit", "notice", "replayed"))
        params.pop("status", None)
        where, cursor, limit = console.listing(params, status=InboxStatus.DEAD)
        page_ = await run_in_threadpool(console.store.find_messages, where, limit=limit, after=cursor)
        replayed = params.get("replayed", "")
        context = _listing_context(where, page_, limit, title="Dead letters")
        context["replayed"] = int(replayed) if replayed.isdigit() and len(replayed) < 10 else None
        return console.render(request, "dead.html", context)

    async def message_page(request: Request, session: Session) -> Response:
        query_params(request, ("notice",))
        found = await run_in_threadpool(console.detail, request.path_params["message_id"])
        if found is None:
            return console.error_page(
                request, 404, "No such message", "The inbox holds no message with this id."
            )
        return console.render(request, "message.html", {"m": found, "final": found.record.status in _FINAL})

    async def replay_one(request: Request, session: Session) -> Response:
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        message_id = request.path_params["message_id"]
        try:
            await run_in_threadpool(
                replay_message, console.store, message_id, force=form.get("force") == "on"
            )
        except NotFoundError as exc:
            return console.error_page(request, 404, "No such message", str(exc))
        except WrongStateError as exc:
            return console.error_page(request, 409, "Nothing to replay", str(exc))
        return RedirectResponse(f"/messages/{quote(message_id, safe='')}?notice=replayed", status_code=303)

    async def replay_confirm(request: Request, session: Session) -> Response:
        params = query_params(request, views.FILTER_KEYS)
        where = views.build_filter(params)
        preview = await run_in_threadpool(console.store.find_messages, _finished(where), limit=200)
        return console.render(
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
        count = await run_in_threadpool(console.store.replay_matching, where, force=force)
        logger.info("console: replayed %d message(s) matching %s", count, views.filter_params(where))
        return RedirectResponse(f"/dead?replayed={count}", status_code=303)

    async def subscriptions_page(request: Request, session: Session) -> Response:
        params = query_params(request, ("status", "notice"))
        state = views.parse_subscription_state(params.get("status"))
        current = await run_in_threadpool(console.current_subscriptions, state)
        return console.render(
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
        subscription_id = int_id(request.path_params["subscription_id"])
        try:
            await run_in_threadpool(console.confirm, subscription_id)
        except NotFoundError as exc:
            return console.error_page(request, 404, "No such subscription", str(exc))
        except WrongStateError as exc:
            return console.error_page(request, 409, "Not pending", str(exc))
        except SNSSubscriberError as exc:
            return console.error_page(request, 502, "Confirmation failed", exc.reason)
        return RedirectResponse("/subscriptions?notice=confirmed", status_code=303)

    async def budgets_page(request: Request, session: Session) -> Response:
        query_params(request, ("notice",))
        found = await run_in_threadpool(console.budgets)
        return console.render(request, "budgets.html", {"budgets": found})

    return [
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
    ]


def _finished(where: MessageFilter) -> MessageFilter:
    """The preview of a bulk replay shows what it would replay: done or dead messages only."""
    if where.status is not None:
        return where
    return MessageFilter(**{**as_kwargs(where), "status": InboxStatus.DEAD})


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
