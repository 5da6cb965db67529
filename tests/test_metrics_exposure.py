"""/metrics and /readyz: never on the event loop, never a thread per request, not open to everyone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sns_subscriber.service.config import load_config
from sns_subscriber.service.metrics import CachedCounts, Metrics
from sns_subscriber.service.runtime import Runtime, build_runtime
from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit

from .support.clock import FakeClock
from .support.servers import request, serve_asgi
from .support.service import free_port

PATH = "/sns"


def make_runtime(tmp_path: Path, kit: SNSTestKit, service: dict[str, Any] | None = None) -> Runtime:
    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "service": service or {},
            "verification": {"cert_dir": str(kit.write_cert_dir(tmp_path / "certs")), "fetch": False},
            "endpoints": [{"path": PATH, "topics": [TEST_TOPIC_ARN], "confirm": "manual"}],
        },
        environ={},
    )
    return build_runtime(config)


@pytest.fixture
def runtime(tmp_path: Path, sns_kit: SNSTestKit) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path, sns_kit)
    yield runtime
    runtime.close()


def deliver(base: str, kit: SNSTestKit, text: str) -> int:
    """Post one notification; a server that does not answer within 10 s fails the test."""
    fields = kit.notification(TEST_TOPIC_ARN, text)
    return request(base + PATH, body=kit.body(fields), headers=kit.headers(fields), timeout=10).status


def test_a_scrape_stuck_in_the_inbox_count_does_not_hold_up_deliveries(
    runtime: Runtime, sns_kit: SNSTestKit
) -> None:
    """Event-loop stall: counting a large inbox (or waiting on a slow database) inside the
    async /metrics view stopped every SNS delivery for as long. The count now runs in a worker
    thread: while one scrape is stuck in it, a delivery is still answered and stored."""
    from sns_subscriber.service.app import create_app

    entered, release = threading.Event(), threading.Event()
    count_threads: list[threading.Thread] = []

    def stuck_counts() -> dict[str, int]:
        count_threads.append(threading.current_thread())
        entered.set()
        release.wait(30)
        return {str(k): v for k, v in runtime.store.counts().items()}

    app = create_app(runtime, run_worker=False, metrics=Metrics(stuck_counts))
    loop_threads: set[threading.Thread] = set()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        loop_threads.add(threading.current_thread())
        await app(scope, receive, send)

    scrapes: list[str] = []
    with serve_asgi(recording) as base:
        scraper = threading.Thread(
            target=lambda: scrapes.append(request(base + "/metrics", method="GET", timeout=60).body.decode())
        )
        scraper.start()
        try:
            assert entered.wait(10)
            assert deliver(base, sns_kit, "while the scrape is stuck") == 200
            assert sum(runtime.store.counts().values()) == 1
        finally:
            release.set()
            scraper.join(30)
    assert len(count_threads) == 1
    assert count_threads[0] not in loop_threads
    assert "sns_inbox_messages" in scrapes[0]


def test_inbox_counts_are_read_at_most_once_per_interval_and_once_at_a_time() -> None:
    """A flood of scrapes must not become a flood of full-table counts: a reading is reused
    for a few seconds, and a scrape arriving while one is being read gets the last value."""
    clock = FakeClock()
    calls: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def read() -> dict[str, int]:
        calls.append(1)
        if len(calls) == 2:
            entered.set()
            release.wait(10)
        return {"received": len(calls)}

    counts = CachedCounts(read, max_age=5.0, clock=lambda: clock().timestamp())
    assert counts() == {"received": 1}
    clock.advance(4.9)
    assert counts() == {"received": 1}  # reused
    clock.advance(0.2)
    slow = threading.Thread(target=counts)
    slow.start()
    assert entered.wait(5)
    assert counts() == {"received": 1}  # a refresh is in flight: the last value, at once
    release.set()
    slow.join(5)
    assert counts() == {"received": 2}
    assert len(calls) == 2


def test_a_failing_count_shows_no_samples_and_is_not_retried_per_scrape() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def read() -> dict[str, int]:
        calls.append(1)
        raise RuntimeError("database gone")

    counts = CachedCounts(read, clock=lambda: clock().timestamp())
    assert counts() == {} and counts() == {}
    assert len(calls) == 1


def test_metrics_behind_a_bearer_token(
    tmp_path: Path, sns_kit: SNSTestKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metrics disclose traffic, topics and inbox depth: with ``metrics_token_env`` set they
    answer 401 unless the request carries that bearer token."""
    from sns_subscriber.service.app import create_app

    monkeypatch.setenv("TEST_METRICS_TOKEN", "s3cret-token")
    runtime = make_runtime(tmp_path, sns_kit, {"metrics_token_env": "TEST_METRICS_TOKEN"})
    with serve_asgi(create_app(runtime, run_worker=False)) as base:
        missing = request(base + "/metrics", method="GET")
        wrong = request(base + "/metrics", method="GET", headers={"Authorization": "Bearer s3cret-tokex"})
        basic = request(base + "/metrics", method="GET", headers={"Authorization": "Basic s3cret-token"})
        right = request(base + "/metrics", method="GET", headers={"Authorization": "Bearer s3cret-token"})
    assert (missing.status, wrong.status, basic.status) == (401, 401, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert b"sns_requests" not in missing.body
    assert right.status == 200 and b"sns_requests" in right.body


def test_a_token_variable_that_is_unset_is_a_configuration_error(tmp_path: Path, sns_kit: SNSTestKit) -> None:
    from sns_subscriber.exceptions import ConfigurationError
    from sns_subscriber.service.app import create_app

    runtime = make_runtime(tmp_path, sns_kit, {"metrics_token_env": "TEST_METRICS_TOKEN_UNSET"})
    try:
        with pytest.raises(ConfigurationError, match="TEST_METRICS_TOKEN_UNSET"):
            create_app(runtime)
    finally:
        runtime.close()


def test_metrics_on_their_own_listener(
    tmp_path: Path, sns_kit: SNSTestKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``metrics_port`` the public port has no /metrics at all; the metrics listener
    (loopback by default) serves them, behind the token when one is configured."""
    from sns_subscriber.service.app import create_app

    monkeypatch.setenv("TEST_METRICS_TOKEN", "tok")
    port = free_port()
    runtime = make_runtime(
        tmp_path, sns_kit, {"metrics_port": port, "metrics_token_env": "TEST_METRICS_TOKEN"}
    )
    with serve_asgi(create_app(runtime, run_worker=False)) as base:
        assert deliver(base, sns_kit, "counted") == 200
        public = request(base + "/metrics", method="GET")
        private = f"http://127.0.0.1:{port}/metrics"
        refused = request(private, method="GET")
        scraped = request(private, method="GET", headers={"Authorization": "Bearer tok"})
    assert public.status == 404
    assert refused.status == 401
    assert scraped.status == 200
    assert b'sns_requests_total{endpoint="/sns",result="accepted",status="200"} 1.0' in scraped.body


def test_concurrent_readiness_probes_share_one_store_ping(runtime: Runtime) -> None:
    """Thread starvation: every /readyz ran its own store ping in a worker thread; with a
    stalled database a burst of probes held every thread that certificate loads and
    confirmations need. Probes arriving while one ping runs now wait for that one."""
    from sns_subscriber.service.app import create_app

    entered, release = threading.Event(), threading.Event()
    pings: list[int] = []
    real_ping = runtime.store.ping

    def stuck_ping() -> None:
        pings.append(1)
        entered.set()
        release.wait(30)
        real_ping()

    runtime.store.ping = stuck_ping  # type: ignore[method-assign]
    statuses: list[int] = []
    arrived = threading.Semaphore(0)
    app = create_app(runtime, run_worker=False)

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/readyz":
            arrived.release()
        await app(scope, receive, send)

    with serve_asgi(counting) as base:
        probes = [
            threading.Thread(
                target=lambda: statuses.append(request(base + "/readyz", method="GET", timeout=60).status)
            )
            for _ in range(12)
        ]
        probes[0].start()
        assert entered.wait(10)
        for probe in probes[1:]:
            probe.start()
        for _ in probes:
            assert arrived.acquire(timeout=10)  # every probe has reached the app
        assert request(base + "/healthz", method="GET", timeout=10).status == 200  # not stuck
        release.set()
        for probe in probes:
            probe.join(30)
    assert statuses == [200] * 12
    assert len(pings) == 1


def test_the_metrics_listener_serves_a_bounded_number_of_scrapes_at_once(
    tmp_path: Path, sns_kit: SNSTestKit
) -> None:
    """Thread exhaustion: the metrics listener runs a thread per connection; connections that
    never send a request held one each. Past MAX_SCRAPES a new connection is closed at once,
    and once the idle ones are gone scrapes are served again."""
    import socket

    from sns_subscriber.service.app import create_app
    from sns_subscriber.service.metrics import MAX_SCRAPES

    port = free_port()
    runtime = make_runtime(tmp_path, sns_kit, {"metrics_port": port})
    with serve_asgi(create_app(runtime, run_worker=False)):
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(MAX_SCRAPES)]
        try:
            extra = socket.create_connection(("127.0.0.1", port), timeout=10)
            with extra:
                extra.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                try:
                    answer = extra.recv(100)
                except ConnectionResetError:
                    answer = b""
            assert answer == b""  # closed unanswered
        finally:
            for sock in idle:
                sock.close()
        status = 0
        for _ in range(100):  # the idle connections' threads notice they are gone
            try:
                status = request(f"http://127.0.0.1:{port}/metrics", method="GET").status
            except OSError:  # still full: closed unanswered
                time.sleep(0.05)
                continue
            break
        assert status == 200
