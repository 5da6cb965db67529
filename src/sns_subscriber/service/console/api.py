"""The console's JSON API (docs/console.md): ``Authorization: Bearer <token>`` on every call,
JSON errors with a code, 400 for any input it does not understand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...exceptions import SNSSubscriberError, StoreUnavailableError
from ..operations import NotFoundError, WrongStateError, replay_message
from . import views
from .core import Console, int_id, logger, query_params, read_json
from .views import BadRequest

__all__ = ["api_routes"]

_Api = Callable[[Request], Awaitable[Response]]


def api_routes(console: Console) -> list[BaseRoute]:
    """The routes of the JSON API, bound to ``console``."""

    def api(handler: _Api) -> _Api:
        async def endpoint(request: Request) -> Response:
            if not console.auth.bearer_ok(request.headers.get("authorization")):
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

    # -- JSON API ------------------------------------------------------------------------------

    async def api_messages(request: Request) -> Response:
        params = query_params(request, (*views.FILTER_KEYS, "cursor", "limit"))
        where, cursor, limit = console.listing(params)
        found = await run_in_threadpool(console.store.find_messages, where, limit=limit, after=cursor)
        return JSONResponse(
            {
                "messages": [views.summary_json(m) for m in found.messages],
                "next_cursor": views.encode_cursor(found.next_cursor),
            }
        )

    async def api_message(request: Request) -> Response:
        query_params(request, ())
        found = await run_in_threadpool(console.detail, request.path_params["message_id"])
        if found is None:
            raise NotFoundError("no message with this id in the inbox")
        return JSONResponse(found.as_json())

    async def api_replay_one(request: Request) -> Response:
        body = await read_json(request)
        force = body.pop("force", False)
        if body or not isinstance(force, bool):
            raise BadRequest('the body is {"force": true|false} (optional)')
        message_id = request.path_params["message_id"]
        await run_in_threadpool(replay_message, console.store, message_id, force=force)
        return JSONResponse({"message_id": message_id, "status": "received"})

    async def api_replay_many(request: Request) -> Response:
        body = await read_json(request)
        force = body.pop("force", False)
        if not isinstance(force, bool):
            raise BadRequest("force must be true or false")
        unknown = [k for k in body if k not in views.FILTER_KEYS]
        if unknown or not all(isinstance(v, str) for v in body.values()):
            raise BadRequest(f"the filter takes string values for {', '.join(views.FILTER_KEYS)}")
        where = views.build_filter(body)
        count = await run_in_threadpool(console.store.replay_matching, where, force=force)
        logger.info("console API: replayed %d message(s) matching %s", count, views.filter_params(where))
        return JSONResponse({"replayed": count})

    async def api_subscriptions(request: Request) -> Response:
        params = query_params(request, ("status",))
        state = views.parse_subscription_state(params.get("status"))
        current = await run_in_threadpool(console.current_subscriptions, state)
        return JSONResponse({"subscriptions": [views.subscription_json(s) for s in current]})

    async def api_confirm(request: Request) -> Response:
        await read_json(request)
        subscription_id = int_id(request.path_params["subscription_id"])
        try:
            record = await run_in_threadpool(console.confirm, subscription_id)
        except (NotFoundError, WrongStateError, StoreUnavailableError):
            raise
        except SNSSubscriberError as exc:
            return JSONResponse({"error": "confirmation_failed", "detail": exc.reason}, status_code=502)
        return JSONResponse({"subscription": views.subscription_json(record)})

    async def api_stats(request: Request) -> Response:
        query_params(request, ())
        snapshot = await run_in_threadpool(console.stats)
        return JSONResponse(_stats_json(snapshot))

    return [
        Route("/api/messages", api(api_messages), methods=["GET"]),
        Route("/api/messages/{message_id}", api(api_message), methods=["GET"]),
        Route("/api/messages/{message_id}/replay", api(api_replay_one), methods=["POST"]),
        Route("/api/replay", api(api_replay_many), methods=["POST"]),
        Route("/api/subscriptions", api(api_subscriptions), methods=["GET"]),
        Route("/api/subscriptions/{subscription_id}/confirm", api(api_confirm), methods=["POST"]),
        Route("/api/stats", api(api_stats), methods=["GET"]),
    ]


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
