"""Task runs and chunks: a day's work split into chunks, each done once however often it is sent."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from loyalty.models import ChunkStatus, EntryKind, LedgerEntry, RunStatus, TaskChunk, TaskRun
from loyalty.task_runs import chunk_fail, chunk_ranges, chunk_run
from loyalty.tasks import pending_release_task, points_expire_chunk_task, points_expire_due_task
from tests.conftest import account_of, assert_ledger_sound, give, new_member, run_together
from tests.loyalty.scheduled_work import eager_tasks

pytestmark = pytest.mark.django_db


def expire_entries() -> int:
    return LedgerEntry.objects.filter(kind=EntryKind.EXPIRE, account__member__isnull=False).count()


def test_chunk_ranges_cover_the_ids_without_overlap():
    assert list(chunk_ranges(3, 10, 4)) == [(3, 7), (7, 11)]
    assert list(chunk_ranges(None, None, 4)) == []
    assert list(chunk_ranges(5, 5, 100)) == [(5, 105)]


def test_the_nightly_expiry_runs_in_chunks_and_records_the_run(frozen_clock):
    members = [new_member() for _ in range(5)]
    for member in members:
        give(member, 100, validity_days=10)
    give(members[0], 50, validity_days=100)  # not due
    day = frozen_clock.advance(10)
    with eager_tasks():
        run_id = points_expire_due_task(today=day.isoformat(), size=2)
    run = TaskRun.objects.get(pk=run_id)
    assert run.status == RunStatus.DONE and run.finished_at is not None
    assert run.chunks_total == run.chunks_done >= 3 and run.chunks_failed == 0
    assert run.counts["points"] == 500 and run.counts["members"] == 5
    assert set(TaskChunk.objects.filter(run=run).values_list("status", flat=True)) == {ChunkStatus.DONE}
    assert account_of(members[0]).balance == 50 and expire_entries() == 5
    assert_ledger_sound()


def test_running_the_day_twice_does_the_work_once(frozen_clock):
    members = [new_member() for _ in range(3)]
    for member in members:
        give(member, 100, validity_days=5)
    day = frozen_clock.advance(5)
    with eager_tasks():
        first = points_expire_due_task(today=day.isoformat(), size=1)
        second = points_expire_due_task(today=day.isoformat(), size=1)
    assert first == second and TaskRun.objects.count() == 1
    assert set(TaskChunk.objects.values_list("attempts", flat=True)) == {1}
    assert expire_entries() == 3
    assert_ledger_sound()


def test_a_chunk_delivered_twice_is_done_once(frozen_clock):
    member = new_member()
    give(member, 100, validity_days=1)
    day = frozen_clock.advance(1)
    with eager_tasks():
        run_id = points_expire_due_task(today=day.isoformat(), size=10_000_000)
    chunk = TaskChunk.objects.get(run_id=run_id)
    assert points_expire_chunk_task(chunk.pk) == "replayed"
    assert points_expire_chunk_task(chunk.pk) == "replayed"
    chunk.refresh_from_db()
    assert chunk.attempts == 1 and expire_entries() == 1


def test_a_chunk_that_failed_closes_its_run_as_failed_with_the_error(frozen_clock):
    members = [new_member() for _ in range(2)]
    ids = sorted(account_of(member).pk for member in members)
    run = TaskRun.objects.create(task="t", key="failing", args={"today": frozen_clock.today.isoformat()},
                                 chunks_total=2)
    first = TaskChunk.objects.create(run=run, index=0, id_from=ids[0], id_to=ids[0] + 1)
    second = TaskChunk.objects.create(run=run, index=1, id_from=ids[1], id_to=ids[1] + 1)
    assert chunk_run(first.pk, lambda chunk: {"members": 1}) == "done"
    chunk_fail(second.pk, "OperationalError: the database went away")
    chunk_fail(second.pk, "again")  # a second report of the same failure changes nothing
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and (run.chunks_done, run.chunks_failed) == (1, 1)
    assert run.errors == ["OperationalError: the database went away"] and run.counts == {"members": 1}


def test_a_transient_error_is_retried_and_the_retry_completes_the_chunk(frozen_clock, monkeypatch):
    from django.db import OperationalError

    from loyalty.services import expiry

    member = new_member()
    give(member, 100, validity_days=1)
    day = frozen_clock.advance(1)
    account_id = account_of(member).pk
    run = TaskRun.objects.create(task="t", key="flaky", args={"today": day.isoformat()}, chunks_total=1)
    chunk = TaskChunk.objects.create(run=run, index=0, id_from=account_id, id_to=account_id + 1)
    real = expiry.points_expire_chunk
    failures = [OperationalError("server closed the connection unexpectedly")]

    def flaky(**kwargs):
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(expiry, "points_expire_chunk", flaky)
    assert OperationalError in points_expire_chunk_task.autoretry_for and points_expire_chunk_task.max_retries == 5
    # apply() runs the retry in this process as a worker would after the backoff
    assert points_expire_chunk_task.apply(args=[chunk.pk]).get() == "done" and not failures
    chunk.refresh_from_db()
    assert chunk.status == ChunkStatus.DONE and chunk.attempts == 2 and expire_entries() == 1
    assert TaskRun.objects.get(pk=run.pk).status == RunStatus.DONE


def test_releasing_pending_points_records_counts_and_writes_no_entry(frozen_clock):
    member = new_member()
    give(member, 70)
    entries = LedgerEntry.objects.count()
    with eager_tasks():
        run_id = pending_release_task(today=frozen_clock.today.isoformat())
    run = TaskRun.objects.get(pk=run_id)
    assert run.status == RunStatus.DONE and run.counts == {"lots": 1, "points": 70}
    assert LedgerEntry.objects.count() == entries
    with eager_tasks():
        tomorrow = pending_release_task(today=(frozen_clock.today + timedelta(days=1)).isoformat())
    assert TaskRun.objects.get(pk=tomorrow).counts == {"lots": 0, "points": 0}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_taking_the_same_chunk_do_it_once(frozen_clock):
    member = new_member()
    run = TaskRun.objects.create(task="t", key="raced", args={}, chunks_total=1)
    chunk = TaskChunk.objects.create(run=run, index=0, id_from=member.pk, id_to=member.pk + 1)
    done: list[int] = []
    inside = threading.Event()

    def body(chunk: TaskChunk) -> dict[str, int]:
        inside.set()
        time.sleep(0.5)
        done.append(chunk.pk)
        return {"members": 1}

    def second() -> str:
        inside.wait(5)
        return chunk_run(chunk.pk, body)

    results = run_together([lambda: chunk_run(chunk.pk, body), second])
    assert sorted(result.value for result in results) == ["busy", "done"]
    assert done == [chunk.pk]
    assert chunk_run(chunk.pk, body) == "replayed" and done == [chunk.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.chunks_done == 1
