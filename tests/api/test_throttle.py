"""Per-key rate limits: the sliding-window estimate, shared through Redis, counted atomically."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from loyalty.api import throttle
from loyalty.api.throttle import ApiKeyRateThrottle, LocalCounter, RedisCounter, rate_parse


@pytest.fixture
def redis_counter() -> Iterator[RedisCounter]:
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    yield RedisCounter(settings.REDIS_URL)


def name() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.mark.parametrize(("rate", "parsed"), [
    ("1200/min", (1200, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600)), ("7/day", (7, 86400)),
    ("nonsense", (1200, 60)), ("", (1200, 60)), ("10/fortnight", (1200, 60)),
])
def test_rates_parse_and_a_bad_one_falls_back_to_the_default(rate: str, parsed: tuple[int, int]) -> None:
    assert rate_parse(rate) == parsed


@pytest.mark.parametrize("make", [LocalCounter, "redis"])
def test_the_limit_holds_within_a_window_and_refusals_are_not_counted(make: Any, request: Any) -> None:
    counter = request.getfixturevalue("redis_counter") if make == "redis" else make()
    key = name()
    results = [counter.take(key, 100, 60, 3, 1.0)[0] for _ in range(6)]
    assert results == [True, True, True, False, False, False]
    assert counter.take(key, 100, 60, 3, 1.0)[1:] == (3, 0)  # the refused ones left the count at 3


@pytest.mark.parametrize("make", [LocalCounter, "redis"])
def test_the_previous_window_weighs_by_how_much_of_it_the_sliding_window_covers(make: Any, request: Any) -> None:
    counter = request.getfixturevalue("redis_counter") if make == "redis" else make()
    key = name()
    for _ in range(10):
        assert counter.take(key, 100, 60, 10, 1.0)[0]
    # early in the next window the last one still counts almost whole (9.5): one more fits
    assert [counter.take(key, 101, 60, 10, 0.95)[0] for _ in range(2)] == [True, False]
    # half way through, half of it counts (5 + the 1 already in): four more fit
    allowed = [counter.take(key, 101, 60, 10, 0.5)[0] for _ in range(6)]
    assert allowed == [True] * 4 + [False] * 2


def test_redis_counts_every_request_of_racing_workers_once(redis_counter: RedisCounter) -> None:
    key = name()
    barrier = threading.Barrier(8)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        mine = [redis_counter.take(key, 5, 60, 50, 1.0)[0] for _ in range(20)]
        with lock:
            allowed.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50  # 160 attempts, exactly the limit let through: no lost updates


def test_redis_down_lets_requests_through(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = RedisCounter("redis://127.0.0.1:1/0")  # nothing listens there
    assert counter.take(name(), 1, 60, 1, 1.0)[0] is True
    assert counter.take(name(), 1, 60, 0, 1.0)[0] is True


@pytest.mark.parametrize(("current", "previous", "into", "at_least", "at_most"), [
    (10, 0, 0.25, 45, 60),   # all used in this window: wait into the next one
    (4, 10, 0.5, 1, 30),     # the previous window's weight must shrink a little more
    (0, 0, 0.0, 1, 60),
])
def test_retry_after_is_a_sensible_wait(current: int, previous: int, into: float, at_least: float,
                                        at_most: float) -> None:
    wait = ApiKeyRateThrottle.wait_for(current, previous, 10, 60, into)
    assert at_least <= wait <= at_most


def test_the_configured_counter_is_redis_when_redis_url_is_set() -> None:
    throttle.counter_reset()
    try:
        expected = RedisCounter if settings.REDIS_URL else LocalCounter
        assert isinstance(throttle.counter(), expected)
    finally:
        throttle.counter_reset()


# ---------------------------------------------------------------------------------------
# Issue 8: Redis that stalls costs one request a bounded wait, then nothing for a while
# ---------------------------------------------------------------------------------------


def test_redis_that_accepts_and_never_answers_costs_one_bounded_wait_then_nothing(settings: Any) -> None:
    import time

    from .silent_server import SilentServer

    settings.REDIS_TIMEOUT, settings.REDIS_RETRY_SECONDS = 0.2, 30
    with SilentServer() as server:
        counter = RedisCounter(f"redis://127.0.0.1:{server.port}/0")
        started = time.monotonic()
        assert counter.take(name(), 1, 60, 1, 1.0)[0] is True  # fails open
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            assert counter.take(name(), 1, 60, 1, 1.0)[0] is True
        rest = time.monotonic() - started
        assert server.accepted >= 1  # it was asked for real, once
    assert first < 1.0, first
    assert rest < 0.05, rest  # 20 requests' limiter calls, all together, within 50 ms


def test_redis_is_asked_again_once_the_pause_is_over(settings: Any) -> None:
    from .silent_server import SilentServer

    settings.REDIS_TIMEOUT, settings.REDIS_RETRY_SECONDS = 0.1, 0
    with SilentServer() as server:
        counter = RedisCounter(f"redis://127.0.0.1:{server.port}/0")
        counter.take(name(), 1, 60, 1, 1.0)
        counter.take(name(), 1, 60, 1, 1.0)
        assert counter.peek(name(), 1) == (0, 0)
    assert server.accepted >= 1


# ---------------------------------------------------------------------------------------
# Issue 8: wrong keys are limited per client address, before any lookup
# ---------------------------------------------------------------------------------------

WRONG = "Api-Key dg_deadbeef_not-a-real-secret"


@pytest.fixture
def few_failures(settings: Any, db: None) -> Iterator[None]:
    settings.DANGOL_AUTH_FAILURE_RATE = "5/min"
    throttle.counter_reset()
    yield
    throttle.counter_reset()


def wrong_key_from(address: str, forwarded: str | None = None) -> Any:
    from django.test import Client

    extra = {"REMOTE_ADDR": address}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return Client().get("/api/v1/members/C1", HTTP_AUTHORIZATION=WRONG, **extra)


def test_wrong_keys_from_one_address_are_throttled_with_the_contract_body(few_failures: None) -> None:
    address = f"10.8.{uuid.uuid4().int % 250}.1"
    statuses = [wrong_key_from(address).status_code for _ in range(5)]
    assert statuses == [401] * 5
    response = wrong_key_from(address)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and set(response.json()) == {"code", "detail"}
    assert int(response["Retry-After"]) >= 1
    assert wrong_key_from(f"10.9.{uuid.uuid4().int % 250}.2").status_code == 401  # another address


def test_a_throttled_address_is_refused_before_any_database_lookup(
    few_failures: None, django_assert_num_queries: Any
) -> None:
    address = f"10.7.{uuid.uuid4().int % 250}.1"
    for _ in range(5):
        wrong_key_from(address)
    with django_assert_num_queries(0):
        assert wrong_key_from(address).status_code == 429


def test_a_valid_key_is_not_counted_as_a_failure(few_failures: None) -> None:
    from django.test import Client

    from .conftest import make_key

    issued = make_key()
    for _ in range(8):
        response = Client().get("/api/v1/members/NOBODY", HTTP_AUTHORIZATION=f"Api-Key {issued.plaintext}",
                                REMOTE_ADDR="10.6.0.1")
        assert response.status_code == 404


def test_forwarded_for_counts_only_with_trusted_proxy_hops(few_failures: None, settings: Any) -> None:
    proxy = f"10.5.{uuid.uuid4().int % 250}.1"
    # Without trusted hops, every client behind the proxy is the proxy, and a forged header changes nothing.
    for index in range(5):
        wrong_key_from(proxy, forwarded=f"198.51.100.{index}")
    assert wrong_key_from(proxy, forwarded="198.51.100.99").status_code == 429
    # One trusted hop: the address the proxy appended is the client; what the client wrote is not.
    settings.DANGOL_TRUSTED_PROXY_HOPS = 1
    other_proxy = f"10.4.{uuid.uuid4().int % 250}.1"
    for _ in range(5):
        wrong_key_from(other_proxy, forwarded="203.0.113.7, 198.51.100.50")
    assert wrong_key_from(other_proxy, forwarded="1.2.3.4, 198.51.100.50").status_code == 429
    assert wrong_key_from(other_proxy, forwarded="198.51.100.51").status_code == 401
