"""The PostgreSQL backend's health check: no round trip for a sound connection, a fresh
connection when the server has dropped the old one."""

from __future__ import annotations

import select
import time
from typing import Any

import pytest
from django.db import connection

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def probe() -> Any:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL backend only")
    other = connection.copy()
    other.settings_dict["CONN_HEALTH_CHECKS"] = True
    other.settings_dict["CONN_MAX_AGE"] = 600
    yield other
    other.close()


def backend_pid(conn: Any) -> int:
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_a_sound_connection_is_reused_without_a_ping(probe: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = backend_pid(probe)
    pings: list[int] = []
    monkeypatch.setattr(type(probe), "is_usable", lambda self: pings.append(1) or True)
    for _ in range(3):
        probe.close_if_unusable_or_obsolete()  # what every request's start and end do
        assert backend_pid(probe) == pid
    assert pings == []


def test_a_connection_the_server_dropped_is_replaced_before_the_query(probe: Any) -> None:
    pid = backend_pid(probe)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    poller = select.poll()
    poller.register(probe.connection.fileno(), select.POLLIN)
    deadline = time.monotonic() + 5
    while not poller.poll(50) and time.monotonic() < deadline:
        pass
    probe.close_if_unusable_or_obsolete()  # the next request starts
    assert backend_pid(probe) != pid  # no error: the dead connection was noticed and replaced


def test_a_connection_idle_for_a_while_is_pinged(probe: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from config.db.postgresql import base

    backend_pid(probe)
    probe.close_if_unusable_or_obsolete()
    backend_pid(probe)  # checked now: recent
    pings: list[int] = []
    monkeypatch.setattr(type(probe), "is_usable", lambda self: pings.append(1) or True)
    probe.checked_at -= base.IDLE_PING_SECONDS + 1  # as if the last request was a while ago
    probe.close_if_unusable_or_obsolete()
    backend_pid(probe)
    assert pings == [1]


def test_sessions_run_without_jit() -> None:
    """The batch door's chunk statements are estimated in the millions; JIT compiling them cost
    more than running them (bench/README.md), so every session turns it off."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
