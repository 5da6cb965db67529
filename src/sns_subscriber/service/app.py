"""The ASGI application: one route per configured endpoint, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..exceptions import ConfigurationError, SNSSubscriberError
from ..integrations.asgi import SNSEndpoint
from ..outcome import RETRY_AFTER
from .asgi import SNSFront
from .metrics import Metrics, bearer_ok, serve_metrics
from .queues import build_pollers, run_pollers
from .runtime import Runtime

__all__ = ["create_app"]

logger = logging.getLogger("sns_subscriber.service")


def _metrics_token(runtime: Runtime) -> str | None:
    config = runtime.config
    env_name = config.get("service.metrics_token_env")
    if env_name is None:
        return None
    token = config.secret(env_name)
    if not token:
        raise ConfigurationError(
            f"{config.source}: service.metrics_token_env names {env_name}, which is empty or unset",
            value=env_name,
        )
    return token


def create_app(runtime: Runtime, *, run_worker: bool = True, metrics: Metrics | None = None) -> SNSFront:
    """Build the ASGI app. With ``run_worker`` a worker thread processes the inbox while serving."""
    config = runtime.config
    metrics = (
        metrics
        if metrics is not None
        else Metrics(lambda: {str(k): v for k, v in runtime.store.counts().items()})
    )
    metrics.add_store_readings(runtime.store)
    if runtime.rejections is not None:  # 403s feed the signature-failure alert
        metrics.on_rejection = runtime.rejections.add
    endpoints: dict[str, SNSEndpoint] = {}
    for path, subscriber in runtime.async_subscribers.items():
        subscriber.verifier.timer = metrics.verify_timer(path)
        endpoints[path] = SNSEndpoint(
            subscriber,
            body_timeout=config.get("service.body_timeout_seconds"),
            handle_timeout=config.get("service.request_timeout_seconds"),
            observe=metrics.observe,
        )
    routes = [Route(path, endpoint) for path, endpoint in endpoints.items()]

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # One SQS poller per [[queues]] entry, next to the HTTP endpoints.
    pollers = build_pollers(runtime, on_message=metrics.queue_message) if runtime.config.queues else []
    metrics.watch_pollers([p.status for p in pollers])

    # One store probe at a time, shared by every /readyz request that arrives meanwhile: with
    # a stalled database each probe holds a worker thread until it times out, and a flood of
    # probes would take every thread certificate loads and confirmations need.
    probe: asyncio.Future[None] | None = None

    async def readyz(_: Request) -> Response:
        nonlocal probe
        if probe is None or probe.done():
            probe = asyncio.ensure_future(asyncio.to_thread(runtime.store.ping))
        queues = {"queues": [p.status.as_dict() for p in pollers]} if pollers else {}
        try:
            await asyncio.shield(probe)
        except SNSSubscriberError as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": exc.reason, **queues},
                status_code=503,
                headers={"retry-after": RETRY_AFTER},
            )
        return JSONResponse({"status": "ready", **queues})

    token = _metrics_token(runtime) if config.get("service.metrics") else None

    async def metrics_view(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

        if token is not None and not bearer_ok(request.headers.get("authorization"), token):
            return PlainTextResponse(
                "bearer token required\n",
                status_code=401,
                headers={"www-authenticate": 'Bearer realm="metrics"'},
            )
        # Rendering walks every metric and may read the inbox counts: never on the event loop.
        text = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    routes += [Route("/healthz", healthz), Route("/readyz", readyz)]
    metrics_port = config.get("service.metrics_port")
    if config.get("service.metrics") and metrics_port is None:
        routes.append(Route("/metrics", metrics_view))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        stop_metrics: Callable[[], None] | None = None
        if config.get("service.metrics") and metrics_port is not None:
            host = config.get("service.metrics_host")
            port, stop_metrics = serve_metrics(metrics.registry, host, metrics_port, token)
            logger.info("metrics on http://%s:%d/metrics", host, port)
        if run_worker:
            worker = runtime.worker(
                on_result=metrics.worker_result, on_action=metrics.action_result, on_lag=metrics.delivery_lag
            )
            thread = threading.Thread(target=worker.run, args=(stop,), name="sns-worker", daemon=True)
            thread.start()
            if runtime.digests is not None:  # budget digests go out from the worker's process
                threading.Thread(
                    target=runtime.digests.run, args=(stop,), name="sns-digests", daemon=True
                ).start()
        poller_threads = run_pollers(pollers, stop)
        try:
            yield
        finally:
            # uvicorn has finished in-flight requests; let the worker finish its current message.
            stop.set()
            if thread is not None:
                await asyncio.to_thread(thread.join, 60)
            if stop_metrics is not None:
                await asyncio.to_thread(stop_metrics)
            for poller_thread in poller_threads:  # a long poll ends within wait_seconds
                await asyncio.to_thread(poller_thread.join, 30)
            runtime.close()

    return SNSFront(endpoints, Starlette(routes=routes, lifespan=lifespan))
