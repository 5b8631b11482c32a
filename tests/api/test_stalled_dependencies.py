"""Issue 8, cases 6 and 7: a database or a broker that accepts connections and never answers.

The app runs for real, as in production: gunicorn serving ``config.wsgi`` with production
settings, in a process of its own, pointed at a :class:`SilentServer` in place of PostgreSQL
or Redis. Nothing is mocked; the bounds under test are the connect and statement timeouts of
web processes, the broker probe of ``/health/`` and the rate limiter's Redis timeouts.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from .conftest import give_points, make_key, make_member
from .silent_server import SilentServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
REAL_REDIS = settings.REDIS_URL or "redis://127.0.0.1:6379/15"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(**env: str) -> Iterator[int]:
    """A production-settings gunicorn on a free port (stopped on exit)."""
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_ENV": "production", "DJANGO_SECRET_KEY": "stall-test-" + "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DB_CONN_MAX_AGE": "60", "DJANGO_LOG_LEVEL": "WARNING", **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "16", "--timeout", "30", "--graceful-timeout", "1"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"gunicorn did not start: {process.stderr.read()[-2000:]!r}") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def call(port: int, method: str, path: str, body: Any = None, key: str = "dg_x_y") -> tuple[float, int, Any, Any]:
    """(seconds, status, JSON body or text, headers); the client gives up after 15 s."""
    started = time.monotonic()
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        client.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = client.getresponse()
        raw = response.read().decode(errors="replace")
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return time.monotonic() - started, response.status, parsed, response.headers
    except TimeoutError:
        return time.monotonic() - started, 0, "client timed out", {}
    finally:
        client.close()


ENDPOINTS: list[tuple[str, str, Any]] = [
    ("PUT", "/api/v1/members/C1", {"name": "A"}),
    ("GET", "/api/v1/members/C1", None),
    ("GET", "/api/v1/members?phone=01012345678", None),
    ("GET", "/api/v1/members/C1/balance", None),
    ("GET", "/api/v1/members/C1/transactions", None),
    ("POST", "/api/v1/purchases", {"external_id": "C1", "order_id": "O-2", "amount": "1000"}),
    ("POST", "/api/v1/purchases/O-1/refunds", {"refund_id": "R-1", "amount": "100"}),
    ("POST", "/api/v1/redemptions", {"external_id": "C1", "points": 1000, "order_id": "P-2",
                                     "order_amount": "10000"}),
    ("POST", "/api/v1/redemptions/1/cancel", None),
    ("POST", "/api/v1/activities", {"external_id": "C1", "type": "review", "reference": "r"}),
    ("POST", "/api/v1/widget-tokens", {"external_id": "C1"}),
]


def test_a_stalled_database_gets_503_from_every_endpoint_within_5s_and_health_says_down() -> None:
    with SilentServer() as database, gunicorn(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{database.port}/dangol",
        REDIS_URL=REAL_REDIS, CELERY_BROKER_URL=REAL_REDIS,
    ) as port:
        with ThreadPoolExecutor(max_workers=len(ENDPOINTS)) as pool:
            answers = list(pool.map(lambda request: call(port, *request), ENDPOINTS))
        health = call(port, "GET", "/health/")
        assert database.accepted >= 1  # the app really tried the silent "database"
    for (method, path, _), (seconds, status, body, headers) in zip(ENDPOINTS, answers, strict=True):
        assert status == 503, (method, path, status, seconds, str(body)[:300])
        assert seconds < 5, (method, path, seconds)
        assert body["code"] == "service_unavailable" and set(body) == {"code", "detail"}, body
        assert headers["Retry-After"]
    seconds, status, body, _ = health
    assert (status, body["database"]) == (503, "down"), body
    assert seconds < 3, seconds


def test_web_processes_get_a_statement_timeout_and_other_processes_none() -> None:
    """A query blocked behind a lock is cancelled in a web process (503, not a 30 s hang)."""
    environment = {**os.environ, "DATABASE_URL": database_url(), "DANGOL_WEB_PROCESS": ""}
    show = ("from django.db import connection; c = connection.cursor(); "
            "c.execute(\"SELECT setting FROM pg_settings WHERE name = 'statement_timeout'\"); "
            "print(c.fetchone()[0])")
    outside = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {show}"], cwd=ROOT, capture_output=True, text=True,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"}, timeout=60, check=True)
    inside = subprocess.run(
        [sys.executable, "-c", f"import config.wsgi; {show}"], cwd=ROOT, capture_output=True, text=True,
        env=environment, timeout=60, check=True)
    assert outside.stdout.strip() == "0"
    assert inside.stdout.strip() == str(settings.DB_STATEMENT_TIMEOUT_MS)  # milliseconds


def test_a_request_blocked_behind_a_lock_is_503_within_5s() -> None:
    member = make_member(external_id="LOCKED")
    give_points(member, 5000)
    issued = make_key()
    with gunicorn(DATABASE_URL=database_url(), REDIS_URL=REAL_REDIS, CELERY_BROKER_URL=REAL_REDIS) as port:
        assert call(port, "GET", "/api/v1/members/LOCKED/balance", key=issued.plaintext)[1] == 200
        with connection.cursor() as cursor:  # hold the account row, as a stuck transaction would
            cursor.execute("BEGIN")
            cursor.execute("SELECT 1 FROM loyalty_account WHERE member_id = %s FOR UPDATE", [member.pk])
            try:
                seconds, status, body, _ = call(port, "POST", "/api/v1/redemptions", {
                    "external_id": "LOCKED", "points": 1000, "order_id": "LOCK-1", "order_amount": "10000"},
                    key=issued.plaintext)
            finally:
                cursor.execute("ROLLBACK")
    assert status == 503 and body["code"] == "service_unavailable", (status, body)
    assert seconds < 5, seconds


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_a_stalled_broker_and_redis_leave_health_fast_and_the_api_unslowed() -> None:
    member = make_member(external_id="FAST")
    give_points(member, 5000)
    issued = make_key()
    path = "/api/v1/members/FAST/balance"

    def timings(port: int) -> list[float]:
        for _ in range(3):  # connections, prepared statements, caches: warm up
            assert call(port, "GET", path, key=issued.plaintext)[1] == 200
        measured = []
        for _ in range(25):
            seconds, status, _, _ = call(port, "GET", path, key=issued.plaintext)
            assert status == 200
            measured.append(seconds)
        return measured

    with gunicorn(DATABASE_URL=database_url(), REDIS_URL=REAL_REDIS, CELERY_BROKER_URL=REAL_REDIS) as port:
        healthy = timings(port)
    with SilentServer() as redis, gunicorn(
        DATABASE_URL=database_url(), REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis.port}/1",
    ) as port:
        call(port, "GET", path, key=issued.plaintext)  # a cold worker imports the views on its first request
        health = call(port, "GET", "/health/")
        stalled = timings(port)
        assert redis.accepted >= 1  # the limiter and the probe really tried the silent "Redis"
    seconds, status, body, _ = health
    assert (status, body["broker"], body["database"]) == (200, "down", "ok"), body
    assert seconds < 3, seconds
    slower = statistics.median(stalled) - statistics.median(healthy)
    assert slower < 0.05, (statistics.median(stalled), statistics.median(healthy))
