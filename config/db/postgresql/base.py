"""Django's PostgreSQL backend with a health check that costs no round trip.

With persistent connections (``CONN_MAX_AGE``) and ``CONN_HEALTH_CHECKS``, stock Django sends
``SELECT 1`` before the first query of every request, to notice a connection the server has
dropped. That doubles the round trips of the hottest read (the balance card is one query).

A connection at rest has nothing to read: PostgreSQL sends nothing unasked outside a query,
and when it drops a session (restart, ``pg_terminate_backend``, idle timeout) it writes an
error message and closes the socket, both of which make the socket readable. So the check here
polls the socket without waiting; only when something is waiting there, the driver already
knows the connection is broken, or the connection sat idle for a while does it run Django's
real check, which then closes a dead connection and lets the request open a fresh one. A peer
lost without a word while the connection is busy costs one failed request (a 503), after
which Django drops the connection.
"""

from __future__ import annotations

import select
import time
from typing import Any

from django.db.backends.postgresql import base


def socket_has_news(connection: object) -> bool:
    """True when the idle connection's socket is readable (a message or EOF is waiting)."""
    try:
        fd = connection.fileno()  # type: ignore[attr-defined]
    except Exception:  # closed or broken: let the real check decide
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


# A connection that sat idle this long gets Django's real check: a peer that vanished without
# closing (a failover, a firewall's idle timeout) leaves a quiet socket. Under load every
# connection is used far more often than this, so the hot path never pings.
IDLE_PING_SECONDS = 10.0


class DatabaseWrapper(base.DatabaseWrapper):
    checked_at = 0.0  # when the connection was last known sound (opened or checked)

    def connect(self) -> None:
        super().connect()
        self.checked_at = time.monotonic()

    def close_if_health_check_failed(self) -> None:
        state: Any = self  # the health-check attributes are missing from django-stubs
        if self.connection is None or not state.health_check_enabled or state.health_check_done:
            return
        raw = self.connection
        now = time.monotonic()
        recent = now - self.checked_at < IDLE_PING_SECONDS
        self.checked_at = now
        if recent and not raw.broken and not raw.closed and not socket_has_news(raw):
            state.health_check_done = True
            return
        super().close_if_health_check_failed()
