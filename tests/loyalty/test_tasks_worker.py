"""Real Celery workers on a real Redis broker (a private redis-server): kill -9 and two workers.

The broker's visibility timeout is 5 s here (a setting, ``DANGOL_CELERY_VISIBILITY_TIMEOUT``), so a
message whose worker was killed comes back within seconds, not Celery's default hour.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty.models import ChunkStatus, EntryKind, LedgerEntry, RunStatus, TaskChunk, TaskRun
from loyalty.task_runs import account_id_range, run_fan_out
from tests.conftest import account_of, assert_ledger_sound, give, new_member
from tests.loyalty.scheduled_work import PrivateRedis, Worker, broker_in_use, wait_for
from tests.loyalty.worker_tasks import slow_expire_chunk_task

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

VISIBILITY = 5


@pytest.fixture
def broker(settings):
    redis = PrivateRedis().start()
    try:
        with broker_in_use(settings, redis.url, visibility_timeout=VISIBILITY):
            yield redis
    finally:
        redis.stop()


@pytest.fixture
def workers(broker):
    started: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(broker.url, name, visibility_timeout=VISIBILITY)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def members_with_due_points(count: int) -> list:
    members = [new_member() for _ in range(count)]
    for member in members:
        give(member, 100, validity_days=1)
    return members


def expire_entries_by_account() -> dict[int, int]:
    counts: dict[int, int] = {}
    for account_id in LedgerEntry.objects.filter(kind=EntryKind.EXPIRE, account__member__isnull=False
                                                 ).values_list("account_id", flat=True):
        counts[account_id] = counts.get(account_id, 0) + 1
    return counts


def run_finished(run_id: int) -> bool:
    return TaskRun.objects.filter(pk=run_id).exclude(status=RunStatus.RUNNING).exists()


def test_a_worker_killed_mid_chunk_loses_nothing_and_the_chunk_finishes_once(broker, workers):
    members = members_with_due_points(8)
    today = (account_of(members[0]).lots.get().expires_on + timedelta(days=1)).isoformat()
    run = run_fan_out(task="test", key="killed", chunk_task=slow_expire_chunk_task, id_range=account_id_range(),
                      chunk_size=10_000, args={"today": today})
    chunk = TaskChunk.objects.get(run=run)
    first = workers("first")
    # Half way: the chunk is running and some accounts are expired, others not yet.
    wait_for(lambda: 2 <= len(expire_entries_by_account()) < 8, timeout=60, what="the chunk to be half done",
             every=0.05)
    first.kill()
    half = len(expire_entries_by_account())
    assert half < 8 and TaskChunk.objects.get(pk=chunk.pk).status == ChunkStatus.RUNNING
    workers("second")
    wait_for(lambda: run_finished(run.pk), timeout=90, what="the redelivered chunk to finish")
    chunk.refresh_from_db()
    run.refresh_from_db()
    assert chunk.status == ChunkStatus.DONE and chunk.attempts == 2
    assert run.status == RunStatus.DONE and run.chunks_done == 1
    assert expire_entries_by_account() == {account_of(member).pk: 1 for member in members}  # each once
    assert all(account_of(member).balance == 0 for member in members)
    assert_ledger_sound()


def test_two_workers_split_the_chunks_and_no_chunk_is_done_twice(broker, workers):
    members = members_with_due_points(8)
    today = (account_of(members[0]).lots.get().expires_on + timedelta(days=1)).isoformat()
    first_id, last_id = account_id_range()
    size = max(1, ((last_id or 0) - (first_id or 0) + 1) // 4)
    run = run_fan_out(task="test", key="split", chunk_task=slow_expire_chunk_task, id_range=(first_id, last_id),
                      chunk_size=size, args={"today": today})
    for chunk_id in TaskChunk.objects.filter(run=run).values_list("pk", flat=True):
        slow_expire_chunk_task.delay(chunk_id)  # every chunk delivered a second time
    workers("one")
    workers("two")
    wait_for(lambda: run_finished(run.pk), timeout=120, what="the run to finish")
    chunks = list(TaskChunk.objects.filter(run=run))
    assert {chunk.status for chunk in chunks} == {ChunkStatus.DONE}
    assert {chunk.attempts for chunk in chunks} == {1}  # no chunk taken twice
    assert len({chunk.worker.rsplit(":", 1)[-1] for chunk in chunks if chunk.counts.get("members")}) == 2
    assert expire_entries_by_account() == {account_of(member).pk: 1 for member in members}
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.counts["points"] == 800
    assert_ledger_sound()
