"""The ASGI application: one route per configured endpoint, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..exceptions import SNSSubscriberError
from ..integrations.starlette import METHODS, handle, to_response
from ..subscriber import AsyncSubscriber
from .asgi import SNSFront
from .metrics import Metrics
from .runtime import Runtime

__all__ = ["create_app"]

logger = logging.getLogger("sns_subscriber.service")


def _measured(subscriber: AsyncSubscriber, metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    async def view(request: Request) -> Response:
        start = time.perf_counter()
        outcome = await handle(subscriber, request)
        metrics.observe(subscriber.endpoint, outcome, time.perf_counter() - start)
        return to_response(outcome)

    return view


def create_app(runtime: Runtime, *, run_worker: bool = True, metrics: Metrics | None = None) -> SNSFront:
    """Build the ASGI app. With ``run_worker`` a worker thread processes the inbox while serving."""
    metrics = (
        metrics
        if metrics is not None
        else Metrics(lambda: {str(k): v for k, v in runtime.store.counts().items()})
    )
    metrics.add_store_readings(runtime.store)
    if runtime.rejections is not None:  # 403s feed the signature-failure alert
        metrics.on_rejection = runtime.rejections.add
    for path, subscriber in runtime.async_subscribers.items():
        subscriber.verifier.timer = metrics.verify_timer(path)
    routes = [
        Route(path, _measured(subscriber, metrics), methods=METHODS)
        for path, subscriber in runtime.async_subscribers.items()
    ]

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            await asyncio.to_thread(runtime.store.ping)
        except SNSSubscriberError as exc:
            return JSONResponse({"status": "unavailable", "detail": exc.reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics_view(_: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes += [Route("/healthz", healthz), Route("/readyz", readyz)]
    if runtime.config.get("service.metrics"):
        routes.append(Route("/metrics", metrics_view))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if run_worker:
            worker = runtime.worker(
                on_result=metrics.worker_result, on_action=metrics.action_result, on_lag=metrics.delivery_lag
            )
            thread = threading.Thread(target=worker.run, args=(stop,), name="sns-worker", daemon=True)
            thread.start()
        try:
            yield
        finally:
            # uvicorn has finished in-flight requests; let the worker finish its current message.
            stop.set()
            if thread is not None:
                await asyncio.to_thread(thread.join, 60)
            runtime.close()

    return SNSFront(dict(runtime.async_subscribers), metrics, Starlette(routes=routes, lifespan=lifespan))
