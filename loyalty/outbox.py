"""The outbox: work that must follow a write is recorded in the write's own transaction.

:func:`outbox_enqueue` adds an :class:`~loyalty.models.OutboxMessage` row beside the write and,
once the transaction commits, tries to publish it at once. When the broker does not answer
(stopped, unreachable), the request is not held: publishing gives up after
``BROKER_PUBLISH_TIMEOUT`` seconds without retrying, and for ``BROKER_DOWN_PAUSE`` seconds after
a failure this process does not even try (the row waits). The minutely
``outbox_dispatch_task`` sends whatever waits once the broker is back.

Delivery is at least once: a message is marked dispatched in the same transaction that locked
it (``skip_locked``: two dispatchers never take the same row), after the broker accepted it; a
crash between the two sends it again later. Every task is idempotent, so that costs nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import OutboxMessage

logger = logging.getLogger(__name__)

BROKER_DOWN_PAUSE = 30.0  # seconds a request path skips publishing after the broker failed
DISPATCH_BATCH = 100
_broker_down_since: dict[str, float] = {}


def outbox_enqueue(task: str, **kwargs: Any) -> OutboxMessage:
    """Record that ``task(**kwargs)`` must run, in the caller's transaction; publish after commit.

    ``kwargs`` must be JSON (ids, ISO dates): tasks take ids, never objects.
    """
    message = OutboxMessage.objects.create(task=task, kwargs=kwargs)
    transaction.on_commit(lambda: outbox_dispatch_one(message.pk))
    return message


def outbox_dispatch_one(message_id: int) -> bool:
    """Publish one message now unless the broker failed moments ago; never raises."""
    if _broker_recently_down():
        return False
    try:
        with transaction.atomic():
            message = (OutboxMessage.objects.select_for_update(skip_locked=True)
                       .filter(pk=message_id, dispatched_at__isnull=True).first())
            if message is None:  # already sent, or a dispatcher holds it
                return False
            with broker_connection() as connection:
                return _publish(message, connection)
    except Exception:  # the database itself failed: the row (if committed) waits for the beat
        logger.exception("outbox: could not dispatch message %s", message_id)
        return False


def outbox_dispatch(*, limit: int = 10_000) -> int:
    """Send the waiting messages, oldest first, until none wait or the broker fails; the count sent."""
    sent = 0
    with broker_connection() as connection:
        while sent < limit:
            with transaction.atomic():
                batch = list(OutboxMessage.objects.select_for_update(skip_locked=True)
                             .filter(dispatched_at__isnull=True).order_by("pk")[:DISPATCH_BATCH])
                if not batch:
                    return sent
                for message in batch:
                    if not _publish(message, connection):
                        return sent  # the broker failed: the rest wait for the next run
                    sent += 1
    return sent


def outbox_pending_count() -> int:
    return OutboxMessage.objects.filter(dispatched_at__isnull=True).count()


@contextmanager
def broker_connection() -> Iterator[Any]:
    """A broker connection that gives up quickly (connecting and every reply), never retrying."""
    timeout = settings.BROKER_PUBLISH_TIMEOUT
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "max_retries": 0}
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        options.update(socket_timeout=timeout, socket_connect_timeout=timeout)
    with current_app.connection_for_write(connect_timeout=timeout, transport_options=options) as connection:
        yield connection


def _publish(message: OutboxMessage, connection: Any) -> bool:
    """Send one locked message and mark it; on failure count the attempt and return false."""
    try:
        if current_app.conf.task_always_eager:
            # Eager (the embedded quick start): run the task once the row's lock is released, outside
            # any transaction, as a worker would (its durable services refuse to nest).
            task, kwargs = current_app.tasks[message.task], message.kwargs
            transaction.on_commit(lambda: task.apply(kwargs=kwargs))
        else:
            connection.ensure_connection(max_retries=0, timeout=max(1, round(settings.BROKER_PUBLISH_TIMEOUT)))
            current_app.send_task(message.task, kwargs=message.kwargs, connection=connection, retry=False)
    except Exception as error:
        _broker_down_since["at"] = time.monotonic()
        OutboxMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1, last_error=str(error)[:1000])
        logger.warning("outbox: broker refused message %s (%s): %s", message.pk, message.task, error)
        return False
    _broker_down_since.pop("at", None)
    OutboxMessage.objects.filter(pk=message.pk).update(dispatched_at=timezone.now(), attempts=F("attempts") + 1)
    return True


def _broker_recently_down() -> bool:
    failed_at = _broker_down_since.get("at")
    return failed_at is not None and time.monotonic() - failed_at < BROKER_DOWN_PAUSE
