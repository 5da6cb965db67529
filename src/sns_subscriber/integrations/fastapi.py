"""FastAPI adapter (extra ``fastapi``): an ``APIRouter`` over :class:`AsyncSubscriber`.

app.include_router(sns_api_router([subscriber]))
"""

from __future__ import annotations

from collections.abc import Iterable

try:
    from fastapi import APIRouter
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    from ..exceptions import MissingExtraError

    raise MissingExtraError("The FastAPI integration", "fastapi", "fastapi") from exc

from ..subscriber import AsyncSubscriber
from .starlette import METHODS, sns_endpoint

__all__ = ["sns_api_router"]


def sns_api_router(subscribers: Iterable[AsyncSubscriber], **router_options: object) -> APIRouter:
    """An APIRouter with one route per subscriber (kept out of the OpenAPI schema)."""
    router = APIRouter(**router_options)  # type: ignore[arg-type]
    for subscriber in subscribers:
        router.add_api_route(
            subscriber.endpoint,
            sns_endpoint(subscriber),
            methods=[m for m in METHODS if m != "HEAD"],
            include_in_schema=False,
        )
    return router
