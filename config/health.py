"""``/health/``: the state of the database and the broker, answered within a few seconds.

Both probes are bounded: the database by its connect timeout (``DB_CONNECT_TIMEOUT``) and, in
web processes, the statement timeout; the broker by ``BROKER_HEALTH_TIMEOUT`` on connecting
and on every read. Kombu's ``ensure_connection(timeout=…)`` bounds only its retry loop, not a
broker that accepts the connection and never answers, which held this page for 30 seconds.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def health(request: HttpRequest) -> JsonResponse:
    """200 with each part's state; 503 when the database is down (without a broker the API
    still answers: tasks wait in the outbox)."""
    parts = {"database": database_state(), "broker": broker_state()}
    every_part_ok = all(state == "ok" for state in parts.values())
    body = {"status": "ok" if every_part_ok else "degraded", **parts, "time": datetime.now().astimezone().isoformat()}
    return JsonResponse(body, status=200 if parts["database"] == "ok" else 503)


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:
        return "down"


def broker_state() -> str:
    from kombu import Connection

    timeout = settings.BROKER_HEALTH_TIMEOUT
    options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        # redis: bounds on connecting and on each reply; amqp reads connect_timeout below
        "socket_timeout": timeout, "socket_connect_timeout": timeout, "max_retries": 0,
    }
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options) as conn:
            conn.ensure_connection(max_retries=0, timeout=max(1, round(timeout)))
            # A virtual transport (redis) connects lazily: open a channel, which asks the server.
            conn.default_channel  # noqa: B018
        return "ok"
    except Exception:
        return "down"
