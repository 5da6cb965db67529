"""The certificate cache: single flight, TTLs, LRU, negative caching and rationing.

Loads that matter for request counting go to a real HTTPS server on 127.0.0.1; the rules
about time use an injected clock and a counting loader.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from sns_subscriber.cache import CacheStats, CertificateCache, Loaded
from sns_subscriber.exceptions import (
    CertificateFetchError,
    ConfigurationError,
    InvalidCertificateError,
    SNSSubscriberError,
    StoreUnavailableError,
)
from sns_subscriber.fetch import fetch_certificate_pem

from .support.clock import FakeClock
from .support.https_server import LocalServer, Request, Route, RouteSpec, default_test_ca, serve_https

PEM = default_test_ca().cert_pem
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ScriptedLoader:
    """Counts calls per URL; returns ``value:<url>:<n>`` valid for ``ttl`` unless told to fail."""

    def __init__(self, clock: FakeClock, ttl: timedelta = timedelta(hours=1)) -> None:
        self.clock = clock
        self.ttl = ttl
        self.calls: list[str] = []
        self.failures: dict[str, list[BaseException]] = {}

    def fail(self, url: str, *errors: BaseException) -> None:
        self.failures.setdefault(url, []).extend(errors)

    def count(self, url: str) -> int:
        return self.calls.count(url)

    def __call__(self, url: str) -> Loaded[str]:
        self.calls.append(url)
        pending = self.failures.get(url)
        if pending:
            raise pending.pop(0)
        return Loaded(f"value:{url}:{self.count(url)}", self.clock() + self.ttl)


def cert_loader(context_of: Callable[[], object]) -> Callable[[str], Loaded[x509.Certificate]]:
    """What the verifier does, minus the SNS checks: fetch, parse, expire at notAfter."""

    def load(url: str) -> Loaded[x509.Certificate]:
        pem = fetch_certificate_pem(url, ssl_context=context_of(), timeout=5)  # type: ignore[arg-type]
        cert = x509.load_pem_x509_certificate(pem)
        return Loaded(cert, cert.not_valid_after_utc)

    return load


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def loader(clock: FakeClock) -> ScriptedLoader:
    return ScriptedLoader(clock)


def fail_first_then_serve(status: int) -> Callable[[Request], Route]:
    def answer(request: Request) -> Route:
        return Route(status, body=b"try later") if request.number == 1 else Route(200, body=PEM)

    return answer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    routes: dict[str, RouteSpec] = {f"/cert-{i}.pem": (200, {}, PEM) for i in range(8)}
    routes["/slow.pem"] = Route(body=PEM, delay=0.3)
    routes["/flaky.pem"] = fail_first_then_serve(500)
    with serve_https(routes) as running:
        yield running


# -- single flight --------------------------------------------------------------------------------


def test_200_concurrent_gets_of_one_url_make_one_request(server: LocalServer) -> None:
    cache = CertificateCache(cert_loader(server.ssl_context))
    url = server.url_for("/slow.pem")
    barrier = threading.Barrier(200)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            value = cache.get(url)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 200
    assert all(r is results[0] for r in results)
    assert isinstance(results[0], x509.Certificate)
    assert server.hits["/slow.pem"] == 1
    stats = cache.stats
    assert stats.loads == 1
    assert stats.hits + stats.misses == 200


def test_200_concurrent_agets_of_one_url_make_one_request_without_blocking_the_loop(
    server: LocalServer,
) -> None:
    cache = CertificateCache(cert_loader(server.ssl_context))
    url = server.url_for("/slow.pem")

    async def main() -> tuple[list[x509.Certificate], int]:
        barrier = asyncio.Barrier(200)
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        async def one() -> x509.Certificate:
            await barrier.wait()
            return await cache.aget(url)

        beat = asyncio.create_task(ticker())
        values = await asyncio.gather(*(one() for _ in range(200)))
        stop.set()
        await beat
        return values, ticks

    values, ticks = asyncio.run(main())
    assert len(values) == 200
    assert all(v is values[0] for v in values)
    assert server.hits["/slow.pem"] == 1
    assert cache.stats.loads == 1
    # The 0.3 s load ran in a thread: the loop kept ticking meanwhile.
    assert ticks >= 10


def test_get_and_aget_share_one_load(server: LocalServer) -> None:
    cache = CertificateCache(cert_loader(server.ssl_context))
    url = server.url_for("/slow.pem")
    from_threads: list[object] = []

    async def main() -> list[x509.Certificate]:
        tasks = [asyncio.create_task(cache.aget(url)) for _ in range(20)]
        await asyncio.sleep(0.05)  # the load is in flight now
        threads = [threading.Thread(target=lambda: from_threads.append(cache.get(url))) for _ in range(20)]
        for thread in threads:
            thread.start()
        values = await asyncio.gather(*tasks)
        for thread in threads:
            await asyncio.to_thread(thread.join, 10)
        return values

    values = asyncio.run(main())
    assert len(from_threads) == 20
    assert all(v is values[0] for v in [*values, *from_threads])
    assert server.hits["/slow.pem"] == 1


def test_cancelled_waiters_do_not_cancel_the_shared_load(server: LocalServer) -> None:
    cache = CertificateCache(cert_loader(server.ssl_context))
    url = server.url_for("/slow.pem")

    async def main() -> list[x509.Certificate]:
        owner = asyncio.create_task(cache.aget(url))
        await asyncio.sleep(0.02)
        waiters = [asyncio.create_task(cache.aget(url)) for _ in range(5)]
        await asyncio.sleep(0.02)
        owner.cancel()
        waiters[0].cancel()
        values = await asyncio.gather(*waiters[1:])
        for task in (owner, waiters[0]):
            with pytest.raises(asyncio.CancelledError):
                await task
        return values

    values = asyncio.run(main())
    assert len(values) == 4
    assert all(v is values[0] for v in values)
    assert server.hits["/slow.pem"] == 1
    assert cache.get(url) is values[0]  # and the result was cached for later callers


def test_concurrent_waiters_of_a_failed_load_each_get_their_own_error(clock: FakeClock) -> None:
    started = threading.Event()
    release = threading.Event()
    calls = 0

    def loader(url: str) -> Loaded[str]:
        nonlocal calls
        calls += 1
        started.set()
        release.wait(5)
        raise CertificateFetchError("certificate URL answered HTTP 503", value=url)

    cache: CertificateCache[str] = CertificateCache(loader, clock=clock)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            cache.get("https://example.test/x.pem")
        except BaseException as exc:
            errors.append(exc)

    owner = threading.Thread(target=worker)
    owner.start()
    started.wait(5)
    joiners = [threading.Thread(target=worker) for _ in range(10)]
    for thread in joiners:
        thread.start()
    time.sleep(0.05)
    release.set()
    for thread in [owner, *joiners]:
        thread.join(10)

    assert calls == 1
    assert len(errors) == 11
    assert all(isinstance(e, CertificateFetchError) for e in errors)
    assert len({id(e) for e in errors}) == 11  # callers add message context to what they catch
    assert all(e.value == "https://example.test/x.pem" for e in errors)  # type: ignore[attr-defined]


def test_aget_when_the_executor_is_gone_does_not_strand_the_url(
    loader: ScriptedLoader, clock: FakeClock
) -> None:
    cache = CertificateCache(loader, clock=clock)

    async def main() -> None:
        await asyncio.get_running_loop().shutdown_default_executor()
        with pytest.raises(RuntimeError):
            await cache.aget("https://example.test/x.pem")

    asyncio.run(main())
    assert cache.get("https://example.test/x.pem") == "value:https://example.test/x.pem:1"


def test_aget_hit_does_not_leave_the_loop(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock)
    cache.get("https://example.test/x.pem")

    async def main() -> str:
        return await cache.aget("https://example.test/x.pem")

    assert asyncio.run(main()) == "value:https://example.test/x.pem:1"
    assert cache.stats.hits == 1


# -- negative caching -------------------------------------------------------------------------------


def test_failed_fetch_is_negatively_cached_then_retried(server: LocalServer, clock: FakeClock) -> None:
    cache = CertificateCache(cert_loader(server.ssl_context), clock=clock, negative_ttl=timedelta(seconds=30))
    url = server.url_for("/flaky.pem")

    with pytest.raises(CertificateFetchError, match="HTTP 500"):
        cache.get(url)
    assert server.hits["/flaky.pem"] == 1

    clock.advance(seconds=29)
    with pytest.raises(CertificateFetchError, match="cached failure") as caught:
        cache.get(url)
    assert "HTTP 500" in str(caught.value)
    assert caught.value.value == url
    assert server.hits["/flaky.pem"] == 1  # nothing reached the server

    clock.advance(seconds=1)
    assert isinstance(cache.get(url), x509.Certificate)
    assert server.hits["/flaky.pem"] == 2
    assert cache.stats == CacheStats(hits=0, misses=2, loads=2, failures=1, rationed=0, negative_hits=1)


def test_permanent_failure_is_cached_for_at_least_five_minutes(
    loader: ScriptedLoader, clock: FakeClock
) -> None:
    url = "https://example.test/bad.pem"
    loader.fail(url, InvalidCertificateError("not the SNS signing certificate", value=url))
    cache = CertificateCache(loader, clock=clock, negative_ttl=timedelta(seconds=30))

    with pytest.raises(InvalidCertificateError, match="not the SNS signing certificate"):
        cache.get(url)
    clock.advance(minutes=4, seconds=59)
    with pytest.raises(InvalidCertificateError, match="cached failure"):
        cache.get(url)
    assert loader.count(url) == 1
    clock.advance(seconds=1)
    assert cache.get(url) == f"value:{url}:2"


def test_long_negative_ttl_applies_to_permanent_failures_too(
    loader: ScriptedLoader, clock: FakeClock
) -> None:
    url = "https://example.test/bad.pem"
    loader.fail(url, InvalidCertificateError("bad", value=url))
    cache = CertificateCache(loader, clock=clock, negative_ttl=timedelta(minutes=10))
    with pytest.raises(InvalidCertificateError):
        cache.get(url)
    clock.advance(minutes=9)
    with pytest.raises(InvalidCertificateError):
        cache.get(url)
    assert loader.count(url) == 1


def test_other_temporary_failures_are_remembered_briefly_as_fetch_errors(
    loader: ScriptedLoader, clock: FakeClock
) -> None:
    url = "https://example.test/x.pem"
    loader.fail(url, StoreUnavailableError("pinned directory unreadable", value=url))
    cache = CertificateCache(loader, clock=clock)
    with pytest.raises(StoreUnavailableError):
        cache.get(url)
    with pytest.raises(CertificateFetchError, match="cached failure"):
        cache.get(url)
    clock.advance(seconds=30)
    assert cache.get(url) == f"value:{url}:2"


def test_remembered_failure_is_a_fresh_instance_without_message_context(
    loader: ScriptedLoader, clock: FakeClock
) -> None:
    url = "https://example.test/x.pem"
    loader.fail(url, InvalidCertificateError("bad", value=url))
    cache = CertificateCache(loader, clock=clock)
    with pytest.raises(InvalidCertificateError) as first:
        cache.get(url)
    assert first.value.with_context(message_id="m-1", topic_arn="t").message_id == "m-1"
    with pytest.raises(InvalidCertificateError) as second:
        cache.get(url)
    assert second.value is not first.value
    assert second.value.message_id is None
    assert second.value.topic_arn is None
    assert second.value.value == url
    assert second.value.__traceback__ is not first.value.__traceback__


def test_unexpected_exception_is_not_cached(loader: ScriptedLoader, clock: FakeClock) -> None:
    url = "https://example.test/x.pem"
    loader.fail(url, RuntimeError("bug in the loader"))
    cache = CertificateCache(loader, clock=clock)
    with pytest.raises(RuntimeError, match="bug in the loader"):
        cache.get(url)
    assert cache.get(url) == f"value:{url}:2"
    assert loader.count(url) == 2
    assert cache.stats.failures == 1


def test_broken_loader_result_does_not_strand_the_url(clock: FakeClock) -> None:
    calls = 0

    def loader(url: str) -> Loaded[str]:
        nonlocal calls
        calls += 1
        # A naive datetime cannot be compared with the aware clock.
        return Loaded("v", datetime(2030, 1, 1) if calls == 1 else clock() + timedelta(hours=1))

    cache: CertificateCache[str] = CertificateCache(loader, clock=clock)
    with pytest.raises(TypeError):
        cache.get("https://example.test/x.pem")
    assert cache.get("https://example.test/x.pem") == "v"
    assert calls == 2


def test_failures_do_not_evict_good_entries(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, max_entries=2)
    cache.get("https://example.test/a.pem")
    cache.get("https://example.test/b.pem")
    for name in "cdef":
        url = f"https://example.test/{name}.pem"
        loader.fail(url, CertificateFetchError("down", value=url))
        with pytest.raises(CertificateFetchError):
            cache.get(url)
    cache.get("https://example.test/a.pem")
    cache.get("https://example.test/b.pem")
    assert loader.count("https://example.test/a.pem") == 1
    assert loader.count("https://example.test/b.pem") == 1


# -- lifetime and size -------------------------------------------------------------------------------


def test_entry_is_reloaded_after_expires_at(clock: FakeClock) -> None:
    loader = ScriptedLoader(clock, ttl=timedelta(minutes=10))
    cache = CertificateCache(loader, clock=clock)
    url = "https://example.test/x.pem"
    assert cache.get(url) == f"value:{url}:1"
    clock.advance(minutes=9, seconds=59)
    assert cache.get(url) == f"value:{url}:1"
    clock.advance(seconds=1)
    assert cache.get(url) == f"value:{url}:2"


def test_entry_is_reloaded_after_max_ttl_even_if_the_value_lives_longer(clock: FakeClock) -> None:
    loader = ScriptedLoader(clock, ttl=timedelta(days=300))
    cache = CertificateCache(loader, clock=clock, max_ttl=timedelta(hours=1))
    url = "https://example.test/x.pem"
    cache.get(url)
    clock.advance(minutes=59)
    assert cache.get(url) == f"value:{url}:1"
    clock.advance(minutes=1)
    assert cache.get(url) == f"value:{url}:2"


def test_real_certificate_expires_at_its_not_after(server: LocalServer) -> None:
    clock = FakeClock(datetime.now(UTC))
    cache = CertificateCache(cert_loader(server.ssl_context), clock=clock, max_ttl=timedelta(days=365))
    url = server.url_for("/cert-0.pem")
    cert = cache.get(url)
    clock.now = cert.not_valid_after_utc - timedelta(seconds=1)
    assert cache.get(url) is cert
    clock.now = cert.not_valid_after_utc
    assert cache.get(url) is not cert
    assert server.hits["/cert-0.pem"] == 2


def test_least_recently_used_entry_is_evicted(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, max_entries=2)
    a, b, c = (f"https://example.test/{n}.pem" for n in "abc")
    cache.get(a)
    cache.get(b)
    cache.get(a)  # a is now the most recently used
    cache.get(c)  # evicts b
    assert cache.get(a) == f"value:{a}:1"
    assert cache.get(c) == f"value:{c}:1"
    assert cache.get(b) == f"value:{b}:2"
    assert loader.calls == [a, b, c, b]


def test_clear_forgets_values_and_failures(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock)
    good, bad = "https://example.test/good.pem", "https://example.test/bad.pem"
    loader.fail(bad, InvalidCertificateError("bad", value=bad))
    cache.get(good)
    with pytest.raises(InvalidCertificateError):
        cache.get(bad)
    cache.clear()
    assert cache.get(good) == f"value:{good}:2"
    assert cache.get(bad) == f"value:{bad}:2"


# -- rationing ---------------------------------------------------------------------------------------


def test_fourth_new_url_in_a_minute_is_refused_without_a_request(server: LocalServer) -> None:
    clock = FakeClock(datetime.now(UTC))
    cache = CertificateCache(cert_loader(server.ssl_context), clock=clock, new_urls_per_minute=3)
    for i in range(3):
        cache.get(server.url_for(f"/cert-{i}.pem"))
        clock.advance(seconds=10)

    fourth = server.url_for("/cert-3.pem")
    with pytest.raises(CertificateFetchError, match="too many new certificate URLs") as caught:
        cache.get(fourth)
    assert caught.value.value == fourth
    assert server.hits["/cert-3.pem"] == 0
    assert cache.stats.rationed == 1

    clock.advance(seconds=30)  # 60 s after the first new URL: one slot is free again
    assert isinstance(cache.get(fourth), x509.Certificate)
    assert server.hits["/cert-3.pem"] == 1
    with pytest.raises(CertificateFetchError, match="too many"):
        cache.get(server.url_for("/cert-4.pem"))
    assert server.hits["/cert-4.pem"] == 0


def test_known_url_is_reloaded_when_expired_even_if_the_ration_is_used_up(clock: FakeClock) -> None:
    loader = ScriptedLoader(clock, ttl=timedelta(seconds=20))
    cache = CertificateCache(loader, clock=clock, new_urls_per_minute=2)
    known, other, new = (f"https://example.test/{n}.pem" for n in ("known", "other", "new"))
    cache.get(known)
    cache.get(other)
    with pytest.raises(CertificateFetchError, match="too many"):
        cache.get(new)
    clock.advance(seconds=30)  # known has expired; the ration window has not moved yet
    assert cache.get(known) == f"value:{known}:2"
    with pytest.raises(CertificateFetchError, match="too many"):
        cache.get(new)
    assert loader.count(new) == 0


def test_evicted_known_url_is_not_rationed(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, max_entries=1, new_urls_per_minute=2)
    a, b = "https://example.test/a.pem", "https://example.test/b.pem"
    cache.get(a)
    cache.get(b)  # evicts a; the ration is used up
    assert cache.get(a) == f"value:{a}:2"


def test_failed_new_url_stays_new_and_is_rationed_again(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, new_urls_per_minute=1, negative_ttl=timedelta(seconds=5))
    url = "https://example.test/x.pem"
    loader.fail(url, CertificateFetchError("down", value=url))
    with pytest.raises(CertificateFetchError, match="down"):
        cache.get(url)
    clock.advance(seconds=10)
    with pytest.raises(CertificateFetchError, match="too many"):
        cache.get(url)
    clock.advance(seconds=50)
    assert cache.get(url) == f"value:{url}:2"


def test_joiners_of_a_new_url_do_not_use_the_ration(server: LocalServer) -> None:
    cache = CertificateCache(cert_loader(server.ssl_context), new_urls_per_minute=1)
    url = server.url_for("/slow.pem")
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(url))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 10
    assert cache.stats.rationed == 0
    assert server.hits["/slow.pem"] == 1


def test_clock_set_back_does_not_freeze_the_ration(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, new_urls_per_minute=1)
    cache.get("https://example.test/a.pem")
    clock.advance(hours=-1)
    assert cache.get("https://example.test/b.pem") == "value:https://example.test/b.pem:1"


def test_zero_new_urls_per_minute_loads_nothing_new(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, new_urls_per_minute=0)
    with pytest.raises(CertificateFetchError, match="too many"):
        cache.get("https://example.test/a.pem")
    assert loader.calls == []


# -- configuration and cost ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"max_entries": 0},
        {"max_ttl": timedelta(0)},
        {"negative_ttl": timedelta(seconds=-1)},
        {"new_urls_per_minute": -1},
    ],
)
def test_bad_configuration_is_refused(options: dict[str, object], loader: ScriptedLoader) -> None:
    with pytest.raises(ConfigurationError):
        CertificateCache(loader, **options)  # type: ignore[arg-type]


def test_errors_raised_are_library_errors(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, new_urls_per_minute=0)
    with pytest.raises(SNSSubscriberError):
        cache.get("https://example.test/a.pem")


def test_hits_do_not_call_the_loader_again() -> None:
    # Hit-path cost is measured in bench/verify.py (ratios), never by a timing assertion here.
    loader = ScriptedLoader(FakeClock(datetime.now(UTC)))
    cache = CertificateCache(loader)
    url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
    for _ in range(1000):
        cache.get(url)
    assert loader.calls == [url]
    assert cache.stats.hits == 999


def test_url_served_without_the_network_is_never_rationed(loader: ScriptedLoader, clock: FakeClock) -> None:
    """A pinned certificate (the loader needs no download) never asks the ration, even when
    junk has used it up."""
    pinned = "https://example.test/pinned.pem"
    cache = CertificateCache(
        loader, clock=clock, new_urls_per_minute=1, needs_network=lambda url: url != pinned
    )
    cache.get("https://example.test/junk-1.pem")
    with pytest.raises(CertificateFetchError, match="too many"):
        cache.get("https://example.test/junk-2.pem")
    assert cache.get(pinned) == f"value:{pinned}:1"


def test_each_client_has_its_own_share_within_the_overall_one(
    loader: ScriptedLoader, clock: FakeClock
) -> None:
    cache = CertificateCache(loader, clock=clock, new_urls_per_minute=3, new_urls_per_client_per_minute=2)
    for n in range(2):
        cache.get(f"https://example.test/a-{n}.pem", client="192.0.2.1")
    with pytest.raises(CertificateFetchError, match="from one client"):
        cache.get("https://example.test/a-2.pem", client="192.0.2.1")
    cache.get("https://example.test/b-0.pem", client="192.0.2.2")
    with pytest.raises(CertificateFetchError, match="too many"):  # the overall share is used up
        cache.get("https://example.test/c-0.pem", client="192.0.2.3")
    clock.advance(seconds=61)
    assert (
        cache.get("https://example.test/a-2.pem", client="192.0.2.1")
        == "value:https://example.test/a-2.pem:1"
    )


def test_vouched_url_is_never_rationed(loader: ScriptedLoader, clock: FakeClock) -> None:
    cache = CertificateCache(loader, clock=clock, new_urls_per_minute=0)
    url = "https://example.test/vouched.pem"
    cache.vouch(url)
    assert cache.get(url) == f"value:{url}:1"
