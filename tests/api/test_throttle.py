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
