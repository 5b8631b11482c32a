"""Runs of scheduled work split into chunks: how a task is done once, by any number of workers.

An orchestrator task calls :func:`run_fan_out`: it creates the run (found again by its key on a
second delivery), one :class:`~loyalty.models.TaskChunk` per range of ids, and enqueues one chunk
task per chunk not finished yet. A chunk task calls :func:`chunk_run` with its body.

Why a chunk is done once even when its message is delivered twice, taken by two workers, or
its worker is killed (``kill -9``) half way:

* the chunk task holds a PostgreSQL *session* advisory lock on the chunk while it works. A
  second delivery finds it held and leaves (the holder finishes the chunk); a killed worker's
  connection closes and the server drops the lock with it, so the redelivered message (acks_late)
  takes the chunk over. A status column alone cannot tell a killed worker from a slow one.
* the row's status says ``done`` once the work committed; a later delivery reads it and leaves.
* the bodies are idempotent services (keys per member and date), so a chunk that died between
  its work and its ``done`` mark does nothing twice when it runs again.

The lock is a session lock, not a transaction, because the bodies call durable services that
open their own transactions. On SQLite (the embedded quick start: one solo worker) there is no
such lock and none is needed.

Every app's batch tasks are declared with :func:`orchestrator` and :func:`chunk_task`, so they
share one retry policy: transient errors (database or broker connections) are retried with
backoff; when the retries are spent or the error is not transient, the chunk is marked failed
and its run closes with the error, visible in the admin. An operator sends the failed chunks
again with :func:`run_retry_failed` (the task runs admin's action): a one-off run, such as a
campaign grant, is never made up by a later day's run.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import Any, ParamSpec, TypeVar, cast

from celery import Task, shared_task
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext
from kombu.exceptions import OperationalError as BrokerOperationalError

from .errors import NotFound, RunNotRetryable
from .models import Account, ChunkStatus, RunStatus, TaskChunk, TaskRun
from .outbox import outbox_enqueue
from .services.chunks import chunk_ranges, id_bounds

# Advisory locks share one 64-bit space; chunk locks use the two-int form under this class id.
CHUNK_LOCK_CLASS = 0x5C4ED  # "sched"
ERRORS_KEPT = 20
TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError, ConnectionError, TimeoutError)

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class ChunkTask(Task[Any, Any]):
    """A chunk task whose failure (retries spent, or an error that is not transient) is recorded."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        chunk_id = chunk_id_of(args, kwargs)
        if chunk_id is None:
            # Not a chunk task's call (a message sent by hand, or by an older signature): failing
            # whichever chunk its first argument happens to name would close an unrelated run.
            logger.error("task %s (%s) failed with arguments that name no chunk: args=%r kwargs=%r: %s: %s",
                         self.name, task_id, args, kwargs, type(exc).__name__, exc)
            return
        chunk_fail(chunk_id, f"{type(exc).__name__}: {exc}")


def chunk_id_of(args: Any, kwargs: Any) -> int | None:
    """The chunk id of a chunk task's call: its one positional argument, or its one ``chunk_id``
    keyword (as the outbox sends it); ``None`` for any other shape of call."""
    args, kwargs = tuple(args or ()), dict(kwargs or {})
    if len(args) == 1 and not kwargs:
        value = args[0]
    elif not args and set(kwargs) == {"chunk_id"}:
        value = kwargs["chunk_id"]
    else:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# Both kinds of batch task: acknowledged once done (a killed worker's message comes back) and
# retried with backoff on transient errors.
_RETRIED: dict[str, Any] = {"acks_late": True, "autoretry_for": TRANSIENT_ERRORS, "retry_backoff": 5,
                            "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 5}


def orchestrator(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """An orchestrator task: retried on transient errors (a replay finds its run by key)."""
    return cast(Callable[[Callable[P, R]], Task[P, R]], shared_task(name=name, **_RETRIED))


def chunk_task(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A chunk task (its first argument the chunk id): retried with backoff on transient errors,
    its failure recorded on the run."""
    return cast(Callable[[Callable[P, R]], Task[P, R]], shared_task(name=name, base=ChunkTask, **_RETRIED))


def account_id_range() -> tuple[int | None, int | None]:
    """The first and last member account ids (system accounts hold no member's points)."""
    return id_bounds(Account.objects.filter(member__isnull=False))


def member_id_range() -> tuple[int | None, int | None]:
    from members.models import Member

    return id_bounds(Member.objects.all())


def run_fan_out(*, task: str, key: str, chunk_task: Task[Any, Any], id_range: tuple[int | None, int | None],
                chunk_size: int, args: Mapping[str, Any] | None = None) -> TaskRun:
    """Create the run ``key`` (or find it) with its chunks, and enqueue every chunk not finished.

    A replay of the orchestrator (redelivered, or run by hand) enqueues the chunks still queued
    or running again; :func:`chunk_run` makes those second messages harmless.
    """
    with transaction.atomic():
        run, created = TaskRun.objects.get_or_create(
            key=key, defaults={"task": task, "chunk_task": chunk_task.name, "args": dict(args or {})})
        if created:
            chunks = [TaskChunk(run=run, index=index, id_from=low, id_to=high)
                      for index, (low, high) in enumerate(chunk_ranges(*id_range, chunk_size))]
            TaskChunk.objects.bulk_create(chunks, batch_size=1000)
            TaskRun.objects.filter(pk=run.pk).update(chunks_total=len(chunks))
            if not chunks:
                run_close(run.pk)
    pending = TaskChunk.objects.filter(run=run, status__in=[ChunkStatus.QUEUED, ChunkStatus.RUNNING])
    for chunk_id in pending.order_by("index").values_list("pk", flat=True).iterator(chunk_size=1000):
        chunk_task.delay(chunk_id)
    run.refresh_from_db()
    return run


@contextmanager
def chunk_lock(chunk_id: int) -> Iterator[bool]:
    """Hold the chunk for this worker's session; yields false when another worker holds it."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [CHUNK_LOCK_CLASS, chunk_id % 2**31])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [CHUNK_LOCK_CLASS, chunk_id % 2**31])
            except DatabaseError:  # the connection broke: the server dropped the lock with it
                connection.close()


def counts_of(result: Any) -> dict[str, int]:
    """A chunk body's result as the counts a run sums (a dataclass such as ChunkResult, or a dict)."""
    fields = asdict(result) if is_dataclass(result) and not isinstance(result, type) else dict(result)
    return {name: int(value) for name, value in fields.items() if isinstance(value, int | bool)}


def chunk_run(chunk_id: int, body: Callable[[TaskChunk], Any]) -> str:
    """Do the chunk's work once: ``"done"``, or ``"replayed"`` (already done), or ``"busy"``
    (another worker holds it). ``body`` gets the chunk (its ``id_from``/``id_to`` and the run's
    ``args``) and returns its counts."""
    with chunk_lock(chunk_id) as held:
        if not held:
            return "busy"
        chunk = TaskChunk.objects.select_related("run").get(pk=chunk_id)
        if chunk.status in (ChunkStatus.DONE, ChunkStatus.FAILED):
            return "replayed"
        TaskChunk.objects.filter(pk=chunk_id).update(
            status=ChunkStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now(),
            worker=f"{socket.gethostname()}:{os.getpid()}",
        )
        counts = counts_of(body(chunk))
        chunk_finish(chunk_id, status=ChunkStatus.DONE, counts=counts)
        return "done"


def chunk_fail(chunk_id: int, error: str) -> None:
    """The chunk's retries are spent: record the error; the run closes as failed."""
    chunk_finish(chunk_id, status=ChunkStatus.FAILED, error=error)


def chunk_finish(chunk_id: int, *, status: str, counts: Mapping[str, int] | None = None, error: str = "") -> None:
    """Mark the chunk finished and count it on its run; the last chunk closes the run."""
    with transaction.atomic():
        finished = TaskChunk.objects.filter(
            pk=chunk_id, status__in=[ChunkStatus.QUEUED, ChunkStatus.RUNNING]
        ).update(status=status, counts=dict(counts or {}), error=error, finished_at=timezone.now())
        if not finished:
            return
        run_id = TaskChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).get()
        run = TaskRun.objects.select_for_update().get(pk=run_id)
        if status == ChunkStatus.DONE:
            run.chunks_done += 1
        else:
            run.chunks_failed += 1
            run.errors = [*run.errors, error[:500]][-ERRORS_KEPT:]
        run.save(update_fields=["chunks_done", "chunks_failed", "errors"])
        if run.chunks_done + run.chunks_failed >= run.chunks_total:
            run_close(run.pk)


def run_close(run_id: int) -> None:
    """Sum the chunks' counts onto the run and mark it finished (inside the caller's transaction)."""
    totals: dict[str, int] = {}
    for counts in TaskChunk.objects.filter(run_id=run_id).values_list("counts", flat=True).iterator():
        for name, value in (counts or {}).items():
            totals[name] = totals.get(name, 0) + int(value)
    run = TaskRun.objects.get(pk=run_id)
    status = RunStatus.FAILED if run.chunks_failed else RunStatus.DONE
    TaskRun.objects.filter(pk=run_id).update(status=status, counts=totals, finished_at=timezone.now())
    then = run.args.get("then")
    if then:  # the follow-up runs once the run's work is committed, broker or not
        outbox_enqueue(then, **run.args.get("then_kwargs", {}))


@transaction.atomic(durable=True)
def run_retry_failed(*, run_id: int) -> int:
    """Put the run's failed chunks back in the queue and send each again; the number re-queued.

    The run row is locked first, as :func:`chunk_finish` locks it, so a chunk finishing meanwhile
    counts on the reopened run, not on a stale one. Each failed chunk goes back to ``queued``
    (its error stays in the run's ``errors``), the run is ``running`` again without its finish
    time, and :func:`run_close` sums the counts once the last chunk ends, as for any run (its
    ``then`` follow-up runs again then: follow-ups are idempotent).

    The chunk tasks are sent through the outbox, in this transaction: a broker outage delays the
    retry and loses none of it, and a second retry finds no failed chunk and sends nothing.
    Chunk bodies are idempotent, so a chunk's old message still around does no harm.
    """
    run = TaskRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"No task run {run_id}.")
    failed = list(TaskChunk.objects.filter(run=run, status=ChunkStatus.FAILED).order_by("index")
                  .values_list("pk", flat=True))
    if not failed:
        return 0
    if not run.chunk_task:
        raise RunNotRetryable(gettext("%(key)s: the run does not record which task does its chunks "
                                      "(it began before runs recorded one).") % {"key": run.key})
    TaskChunk.objects.filter(pk__in=failed).update(status=ChunkStatus.QUEUED, error="", counts={}, worker="",
                                                   started_at=None, finished_at=None)
    TaskRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, finished_at=None,
                                             chunks_failed=max(run.chunks_failed - len(failed), 0))
    for chunk_id in failed:
        outbox_enqueue(run.chunk_task, chunk_id=chunk_id)
    return len(failed)
