"""A grant runs once: when one of its chunks fails, no later run makes it up, so the operator
retries the failed chunks and the members of that chunk get their points, once."""

from __future__ import annotations

import pytest

from campaigns import grants
from campaigns.grants import grants_due
from campaigns.models import CampaignAward, CampaignKind, Segment
from campaigns.tasks import campaign_grant_chunk_task, campaign_grant_plan_task
from loyalty.models import ChunkStatus, RunStatus, TaskChunk, TaskRun
from loyalty.task_runs import run_retry_failed
from tests.campaigns.conftest import launched
from tests.conftest import account_of, assert_ledger_sound, new_member
from tests.loyalty.scheduled_work import eager_tasks, eager_tasks_recording_failures

pytestmark = pytest.mark.django_db


def test_the_members_of_a_failed_grant_chunk_get_their_points_when_it_is_retried(
        monkeypatch, django_capture_on_commit_callbacks) -> None:
    monkeypatch.setattr(grants, "GRANT_CHUNK", 2)
    members = [new_member(birthday="1990-12-01") for _ in range(6)]
    segment = Segment.objects.create(name="december retry", birthday_month=12)
    campaign = launched(kind=CampaignKind.GRANT, bonus_points=300, segment=segment, name="재시도 지급")
    real = grants.points_grant_chunk
    failures = [ValueError("a bug in the grant")]

    def fails_once(**kwargs):
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(grants, "points_grant_chunk", fails_once)
    with eager_tasks_recording_failures():
        run = TaskRun.objects.get(pk=campaign_grant_plan_task(campaign.pk))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.chunks_failed == 1
    assert run.chunk_task == campaign_grant_chunk_task.name
    unpaid = [m for m in members if account_of(m).balance == 0]
    assert unpaid and grants_due() == []  # the grant has its run: the schedule will not run it again

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert run_retry_failed(run_id=run.pk) == 1
        assert run_retry_failed(run_id=run.pk) == 0
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.chunks_failed == 0 and run.chunks_done == run.chunks_total
    assert run.counts["members"] == 6 and run.counts["points"] == 1800
    assert [account_of(m).balance for m in members] == [300] * 6
    assert CampaignAward.objects.filter(campaign=campaign).count() == 6
    assert set(TaskChunk.objects.filter(run=run).values_list("status", flat=True)) == {ChunkStatus.DONE}
    assert_ledger_sound()
