"""Per-key rate limits: a sliding window estimated from two fixed-window counters.

DRF's ``SimpleRateThrottle`` keeps the timestamp of every request in a list that it reads
from the cache and writes back whole on each request: two Redis round trips carrying a list
as long as the rate, and two workers that read the same list each write back their own, so
requests go uncounted under exactly the load a limit is for. Here each key has one counter
per fixed window; the rate over the last ``period`` is estimated as this window's count plus
the previous window's, weighted by how much of it the sliding window still covers. Checking
and counting is one atomic step (a Lua script, one round trip) on Redis when ``REDIS_URL`` is
set, and a dictionary under a lock in process memory otherwise. Refused requests are not
counted, as with DRF: a client over its limit still gets its share once it slows down.
If Redis cannot be reached, or does not answer within ``REDIS_TIMEOUT``, the request is let
through (and logged), and so is every request for ``REDIS_RETRY_SECONDS`` without asking again:
a limiter that is down must not take the API down, or slow it, with it.

Wrong API keys are limited too, per client address (``client_address``), so that a key cannot
be guessed by trying: an address over ``DANGOL_AUTH_FAILURE_RATE`` is refused before its key is
looked up in the database.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ..models import ApiKey
from .keys import WidgetClaims

logger = logging.getLogger(__name__)

DEFAULT_RATE = "1200/min"
WIDGET_RATE = "120/min"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@lru_cache(maxsize=256)
def rate_parse(rate: str) -> tuple[int, int]:
    """``"1200/min"`` → ``(1200, 60)``; a rate that does not parse means the default."""
    count, _, period = (rate or "").partition("/")
    try:
        limit, seconds = int(count), PERIODS[period.strip()[:1]]
    except (KeyError, ValueError):
        return rate_parse(DEFAULT_RATE) if rate != DEFAULT_RATE else (1200, 60)
    return max(limit, 0), seconds


class Counter(Protocol):
    def take(self, name: str, window: int, period: int, limit: int, overlap: float) -> tuple[bool, int, int]:
        """Count one request in ``window`` if the estimate allows it: ``(allowed, current, previous)``."""

    def peek(self, name: str, window: int) -> tuple[int, int]:
        """This window's count and the previous one's, counting nothing: ``(current, previous)``."""


def estimate(current: int, previous: int, overlap: float) -> float:
    return previous * overlap + current


class LocalCounter:
    """Counters in this process's memory (no Redis): each worker limits on its own."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def take(self, name: str, window: int, period: int, limit: int, overlap: float) -> tuple[bool, int, int]:
        with self._lock:
            current = self._counts.get((name, window), 0)
            previous = self._counts.get((name, window - 1), 0)
            if estimate(current, previous, overlap) >= limit:
                return False, current, previous
            if not current and len(self._counts) > 50_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window - 1}
            self._counts[(name, window)] = current + 1
            return True, current + 1, previous

    def peek(self, name: str, window: int) -> tuple[int, int]:
        with self._lock:
            return self._counts.get((name, window), 0), self._counts.get((name, window - 1), 0)


# KEYS: this window's counter, the previous one. ARGV: limit, overlap, expiry in seconds.
TAKE_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[2]) + current >= tonumber(ARGV[1]) then
    return {0, current, previous}
end
current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {1, current, previous}
"""


class RedisCounter:
    """Counters shared by every worker, in Redis; one ``EVALSHA`` per request.

    Redis that stalls (accepts the connection, never answers) costs one request at most
    ``timeout`` seconds; the counter then lets every request through without asking for
    ``retry_after`` seconds, so the API is not slowed while Redis is away.
    """

    def __init__(self, url: str, *, timeout: float | None = None, retry_after: float | None = None) -> None:
        import redis

        timeout = settings.REDIS_TIMEOUT if timeout is None else timeout
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._take = self._client.register_script(TAKE_SCRIPT)
        self._retry_after = settings.REDIS_RETRY_SECONDS if retry_after is None else retry_after
        self._away_until = 0.0
        self._logged_at = -1e9

    @staticmethod
    def keys(name: str, window: int) -> list[str]:
        # The braces keep both counters in one hash slot on a Redis Cluster (a script needs that).
        return [f"dangol:rate:{{{name}}}:{window}", f"dangol:rate:{{{name}}}:{window - 1}"]

    def available(self) -> bool:
        return time.monotonic() >= self._away_until

    def _went_away(self) -> None:
        now = time.monotonic()
        self._away_until = now + self._retry_after
        if now - self._logged_at > 60:  # one line a minute, not one per request
            logger.warning("rate limiting skipped for %.0f s: Redis is unreachable", self._retry_after,
                           exc_info=True)
            self._logged_at = now

    def take(self, name: str, window: int, period: int, limit: int, overlap: float) -> tuple[bool, int, int]:
        if not self.available():
            return True, 0, 0
        try:
            allowed, current, previous = self._take(keys=self.keys(name, window),
                                                    args=[limit, repr(overlap), period * 2 + 1])
        except Exception:
            self._went_away()
            return True, 0, 0
        return bool(allowed), int(current), int(previous)

    def peek(self, name: str, window: int) -> tuple[int, int]:
        if not self.available():
            return 0, 0
        try:
            current, previous = self._client.mget(self.keys(name, window))
        except Exception:
            self._went_away()
            return 0, 0
        return int(current or 0), int(previous or 0)


_counter: Counter | None = None


def counter() -> Counter:
    global _counter
    if _counter is None:
        _counter = RedisCounter(settings.REDIS_URL) if settings.REDIS_URL else LocalCounter()
    return _counter


def counter_reset() -> None:
    """Forget the counter (tests switch between Redis and memory)."""
    global _counter
    _counter = None


class ApiKeyRateThrottle(BaseThrottle):
    """Each key has its own rate (``ApiKey.throttle_rate``); a widget token has its member's."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        auth = request.auth
        if isinstance(auth, ApiKey):
            rate, name = auth.throttle_rate, f"k{auth.pk}"
        elif isinstance(auth, WidgetClaims):
            rate, name = WIDGET_RATE, f"w{auth.member_id}"
        else:
            return True
        limit, period = rate_parse(rate)
        now = time.time()
        window = int(now // period)
        into = (now - window * period) / period  # how far into this window, 0..1
        allowed, current, previous = counter().take(f"{name}:{period}", window, period, limit, 1.0 - into)
        if not allowed:
            self._wait = self.wait_for(current, previous, limit, period, into)
        return allowed

    @staticmethod
    def wait_for(current: int, previous: int, limit: int, period: int, into: float) -> float:
        """Seconds until the estimate falls below the limit, if nothing else is sent."""
        if limit <= 0:
            return float(period)
        if previous and current < limit:
            # still this window: the previous window's weight shrinks as time goes on
            needed = 1.0 - (limit - current) / previous
            return max(1.0, (needed - into) * period)
        # next window: this one's count becomes the weighted part
        needed = 1.0 - (limit - 0.5) / current if current else 0.0
        return max(1.0, (1.0 - into + max(needed, 0.0)) * period)

    def wait(self) -> float | None:
        return self._wait


class AuthFailureLimit:
    """Wrong keys per client address, on the same sliding window as the per-key limits."""

    @staticmethod
    def _where(now: float) -> tuple[int, int, int, float]:
        limit, period = rate_parse(settings.DANGOL_AUTH_FAILURE_RATE)
        window = int(now // period)
        return limit, period, window, (now - window * period) / period

    @classmethod
    def refused_for(cls, address: str) -> float | None:
        """Seconds to wait when ``address`` is over the limit (nothing is counted), else ``None``."""
        limit, period, window, into = cls._where(time.time())
        current, previous = counter().peek(f"auth:{address}:{period}", window)
        if estimate(current, previous, 1.0 - into) < limit:
            return None
        return ApiKeyRateThrottle.wait_for(current, previous, limit, period, into)

    @classmethod
    def record(cls, address: str) -> None:
        """Count one wrong key from ``address``."""
        limit, period, window, into = cls._where(time.time())
        counter().take(f"auth:{address}:{period}", window, period, limit, 1.0 - into)
