"""Retrying a run's failed chunks: the chunks run again, the run closes with every chunk's counts,
and a retry sent twice does the work once. Only who may change task runs gets the admin action."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation

from config.celery import app as celery_app
from loyalty.errors import RunNotRetryable
from loyalty.models import ChunkStatus, EntryKind, LedgerEntry, OutboxMessage, RunStatus, TaskChunk, TaskRun
from loyalty.services import expiry
from loyalty.task_runs import chunk_fail, run_retry_failed
from loyalty.tasks import points_expire_chunk_task, points_expire_due_task
from members.roles import ADMINISTRATOR, VIEWER, roles_sync
from tests.conftest import account_of, assert_ledger_sound, give, new_member
from tests.loyalty.scheduled_work import eager_tasks, eager_tasks_recording_failures
from tests.members.admin_helpers import client_for, staff

pytestmark = pytest.mark.django_db

RUNS_URL = "/admin/loyalty/taskrun/"


def chunk_messages():
    """The outbox rows of chunk tasks (expiry itself leaves rows of its own follow-ups)."""
    return OutboxMessage.objects.filter(task__endswith="_chunk_task")


def expire_entries() -> int:
    return LedgerEntry.objects.filter(kind=EntryKind.EXPIRE, account__member__isnull=False).count()


@pytest.fixture
def run_with_a_failed_chunk(frozen_clock, monkeypatch):
    """The nightly expiry of five members in chunks of one account, the second chunk failing once
    with an error that is not transient (so not retried by Celery): the run closes as failed."""
    members = [new_member() for _ in range(5)]
    for member in members:
        give(member, 100, validity_days=3)
    day = frozen_clock.advance(3)
    unlucky = sorted(account_of(member).pk for member in members)[1]
    real = expiry.points_expire_chunk

    failures = [ValueError("a bug in the body")]

    def fails_once_on_the_unlucky_account(**kwargs):
        if kwargs["account_id_from"] <= unlucky < kwargs["account_id_to"] and failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(expiry, "points_expire_chunk", fails_once_on_the_unlucky_account)
    with eager_tasks_recording_failures():
        run_id = points_expire_due_task(today=day.isoformat(), size=1)
    run = TaskRun.objects.get(pk=run_id)
    assert run.status == RunStatus.FAILED and run.chunks_failed == 1 and run.finished_at is not None
    assert run.counts["points"] == 400 and expire_entries() == 4
    return run


def test_fan_out_records_the_chunk_task_a_retry_sends(run_with_a_failed_chunk):
    assert run_with_a_failed_chunk.chunk_task == "loyalty.points_expire_chunk_task"


def test_a_retried_chunk_runs_again_and_the_run_closes_done_with_every_chunks_counts(
        run_with_a_failed_chunk, django_capture_on_commit_callbacks):
    run = run_with_a_failed_chunk
    failed = TaskChunk.objects.get(run=run, status=ChunkStatus.FAILED)
    assert failed.error == "ValueError: a bug in the body"
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert run_retry_failed(run_id=run.pk) == 1
    failed.refresh_from_db()
    assert failed.status == ChunkStatus.DONE and failed.attempts == 2 and failed.error == ""
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.finished_at is not None
    assert (run.chunks_done, run.chunks_failed) == (run.chunks_total, 0)
    assert run.counts["points"] == 500 and run.counts["members"] == 5
    assert run.errors == ["ValueError: a bug in the body"]  # the history of the run keeps the failure
    assert expire_entries() == 5
    message = chunk_messages().get()
    assert message.task == "loyalty.points_expire_chunk_task" and message.kwargs == {"chunk_id": failed.pk}
    assert message.dispatched_at is not None
    assert_ledger_sound()


def test_a_retry_reopens_the_run_until_its_chunks_are_done(run_with_a_failed_chunk):
    run = run_with_a_failed_chunk
    assert run_retry_failed(run_id=run.pk) == 1  # the commit never comes in this test: nothing is sent yet
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.finished_at is None and run.chunks_failed == 0
    chunk = TaskChunk.objects.get(run=run, index=1)
    assert chunk.status == ChunkStatus.QUEUED and chunk.error == "" and chunk.finished_at is None


def test_retrying_twice_does_the_work_once(run_with_a_failed_chunk, django_capture_on_commit_callbacks):
    run = run_with_a_failed_chunk
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert run_retry_failed(run_id=run.pk) == 1
        assert run_retry_failed(run_id=run.pk) == 0  # the chunk is queued, not failed: nothing to send
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert run_retry_failed(run_id=run.pk) == 0  # and once it is done, still nothing
    chunk = TaskChunk.objects.get(run=run, index=1)
    assert points_expire_chunk_task(chunk.pk) == "replayed"  # a stale message of the chunk does nothing
    assert chunk_messages().count() == 1 and expire_entries() == 5
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.counts["points"] == 500 and run.chunks_done == run.chunks_total
    assert_ledger_sound()


def test_a_run_without_failed_chunks_is_left_as_it_is(frozen_clock):
    with eager_tasks():
        run_id = points_expire_due_task(today=frozen_clock.today.isoformat())
    before = TaskRun.objects.values().get(pk=run_id)
    assert run_retry_failed(run_id=run_id) == 0
    assert TaskRun.objects.values().get(pk=run_id) == before and not chunk_messages().exists()


def test_a_run_that_does_not_record_its_chunk_task_is_refused_and_left_failed():
    run = TaskRun.objects.create(task="nowhere.old_task", key="old-run", chunks_total=1)
    chunk = TaskChunk.objects.create(run=run, index=0, id_from=1, id_to=10)
    chunk_fail(chunk.pk, "RuntimeError: lost")
    with pytest.raises(RunNotRetryable):
        run_retry_failed(run_id=run.pk)
    chunk.refresh_from_db()
    run.refresh_from_db()
    assert chunk.status == ChunkStatus.FAILED and run.status == RunStatus.FAILED and run.chunks_failed == 1
    assert not chunk_messages().exists()


def test_the_migration_fills_in_the_chunk_task_of_earlier_runs_with_tasks_that_exist():
    migration = importlib.import_module("loyalty.migrations.0014_task_run_chunk_task")
    for orchestrator, chunk_task in migration.CHUNK_TASKS.items():
        assert orchestrator in celery_app.tasks and chunk_task in celery_app.tasks, orchestrator
    grant = TaskRun.objects.create(task="campaigns.campaign_grant_plan_task", key="campaign_grant:1:1")
    other = TaskRun.objects.create(task="nowhere.old_task", key="old-run")
    from django.apps import apps

    migration.forward(apps, None)
    assert TaskRun.objects.get(pk=grant.pk).chunk_task == "campaigns.campaign_grant_chunk_task"
    assert TaskRun.objects.get(pk=other.pk).chunk_task == ""


# The guard of ChunkTask.on_failure ---------------------------------------------------------------


@pytest.fixture
def queued_chunk() -> TaskChunk:
    run = TaskRun.objects.create(task="t", key="guarded", chunks_total=1)
    return TaskChunk.objects.create(run=run, index=0, id_from=1, id_to=10)


@pytest.mark.parametrize("args, kwargs", [
    ((None, 7), {}),  # another signature: its first argument is not a chunk id
    (("today",), {"size": 2}),
    ((), {"chunk_id": None, "size": 2}),
    ((), {"today": "2025-03-10"}),
])
def test_a_failure_of_a_call_that_names_no_chunk_fails_no_chunk(queued_chunk, args, kwargs):
    args = tuple(queued_chunk.pk if arg is None else arg for arg in args)
    kwargs = {name: queued_chunk.pk if value is None else value for name, value in kwargs.items()}
    points_expire_chunk_task.on_failure(ValueError("boom"), "task-id", args, kwargs, None)
    queued_chunk.refresh_from_db()
    assert queued_chunk.status == ChunkStatus.QUEUED
    assert TaskRun.objects.get(pk=queued_chunk.run_id).status == RunStatus.RUNNING


@pytest.mark.parametrize("by_keyword", [False, True])
def test_a_failure_of_a_chunk_call_fails_its_chunk(queued_chunk, by_keyword):
    args, kwargs = ((), {"chunk_id": queued_chunk.pk}) if by_keyword else ((queued_chunk.pk,), {})
    points_expire_chunk_task.on_failure(ValueError("boom"), "task-id", args, kwargs, None)
    queued_chunk.refresh_from_db()
    assert queued_chunk.status == ChunkStatus.FAILED and queued_chunk.error == "ValueError: boom"
    assert TaskRun.objects.get(pk=queued_chunk.run_id).status == RunStatus.FAILED


# The admin action --------------------------------------------------------------------------------


def retry(client, *runs: TaskRun):
    return client.post(RUNS_URL, {"action": "retry_failed", "_selected_action": [run.pk for run in runs]},
                       follow=True, headers={"accept-language": "en"})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def only_viewing_task_runs() -> User:
    user = User.objects.create_user("runs-viewer", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="loyalty",
                                                         codename__in=["view_taskrun", "view_taskchunk"]))
    return User.objects.get(pk=user.pk)


def test_an_administrator_retries_the_failed_chunks_from_the_admin(
        run_with_a_failed_chunk, django_capture_on_commit_callbacks):
    roles_sync()
    run = run_with_a_failed_chunk
    client = client_for(staff(ADMINISTRATOR))
    assert "retry_failed" in client.get(RUNS_URL).content.decode()
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        response = retry(client, run)
    assert response.status_code == 200
    assert messages_of(response) == [f"1 failed chunk(s) sent again: {run.key}"]
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.counts["points"] == 500


def test_the_action_says_when_a_run_has_no_failed_chunk_and_speaks_korean(
        run_with_a_failed_chunk, django_capture_on_commit_callbacks):
    roles_sync()
    client = client_for(staff(ADMINISTRATOR))
    done = TaskRun.objects.create(task="t", key="all-done", status=RunStatus.DONE)
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True), translation.override("ko"):
        response = client.post(RUNS_URL, {"action": "retry_failed", "_selected_action": [done.pk]}, follow=True,
                               headers={"accept-language": "ko"})
    assert messages_of(response) == ["다시 실행할 실패한 청크가 없습니다: all-done"]
    assert TaskRun.objects.get(pk=done.pk).status == RunStatus.DONE and not chunk_messages().exists()


def test_who_may_only_view_task_runs_cannot_retry_them(run_with_a_failed_chunk, django_capture_on_commit_callbacks):
    run = run_with_a_failed_chunk
    client = client_for(only_viewing_task_runs())
    listing = client.get(RUNS_URL)
    assert listing.status_code == 200 and "retry_failed" not in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        retry(client, run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.chunks_failed == 1
    assert TaskChunk.objects.filter(run=run, status=ChunkStatus.FAILED).count() == 1
    assert not chunk_messages().exists()


def test_a_viewer_does_not_see_task_runs():
    roles_sync()
    assert client_for(staff(VIEWER)).get(RUNS_URL).status_code == 403
    assert reverse("admin:loyalty_taskrun_changelist") == RUNS_URL
