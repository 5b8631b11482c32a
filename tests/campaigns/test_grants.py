"""A grant campaign credits each targeted member once per run, within its budget, in chunks
that can run twice or at once; its run is a task run the admin shows, with the grant's totals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from celery.exceptions import Retry

from campaigns import grants
from campaigns.grants import (
    campaign_grant_chunk,
    campaign_grant_plan,
    grant_prefix,
    grant_run_key,
    grants_due,
)
from campaigns.models import CampaignAward, CampaignKind, Exposure, GrantChunk, Segment
from campaigns.results import campaign_results
from campaigns.targeting import held_out
from campaigns.tasks import (
    campaign_grant_chunk_task,
    campaign_grant_plan_task,
    campaign_results_measure_task,
    campaigns_advance_task,
)
from loyalty.models import ChunkStatus, LedgerEntry, OutboxMessage, RunStatus, TaskChunk, TaskRun
from tests.campaigns.conftest import launched
from tests.conftest import account_of, assert_ledger_sound, errors_of, new_member, run_together, unique
from tests.loyalty.scheduled_work import eager_tasks

pytestmark = pytest.mark.django_db


def grant_campaign(**fields):
    segment = Segment.objects.create(name=f"december {fields.get('name', '')}", birthday_month=12)
    return launched(kind=CampaignKind.GRANT, bonus_points=300, segment=segment, **fields)


def run_all(campaign) -> TaskRun:
    """The grant as the scheduler runs it: the plan task fans out, the chunk tasks run eagerly."""
    with eager_tasks():
        run_id = campaign_grant_plan_task(campaign.pk)
    return TaskRun.objects.get(pk=run_id)


def test_a_grant_credits_the_segment_once_even_when_run_twice(monkeypatch) -> None:
    monkeypatch.setattr(grants, "GRANT_CHUNK", 2)
    december = [new_member(birthday="1990-12-01") for _ in range(5)]
    others = [new_member(birthday="1990-06-01") for _ in range(2)]
    campaign = grant_campaign(name="연말 감사")
    assert grants_due() == [campaign.pk]
    run = run_all(campaign)
    assert run.counts["members"] == 5
    assert grants_due() == []
    assert run_all(campaign).pk == run.pk  # the replay finds the run: nobody is credited again
    chunks = TaskChunk.objects.filter(run=run)
    assert chunks.count() == run.chunks_total >= 4 and set(chunks.values_list("attempts", flat=True)) == {1}
    assert [account_of(m).balance for m in december] == [300] * 5
    assert [account_of(m).balance for m in others] == [0, 0]
    assert CampaignAward.objects.filter(campaign=campaign).count() == 5
    entries = LedgerEntry.objects.filter(reference=grant_prefix(campaign.pk, 1), account__member__isnull=False)
    assert entries.count() == 5
    assert_ledger_sound()


def test_a_grant_stops_at_its_budget_and_skips_the_holdout() -> None:
    members = [new_member(birthday="1990-12-01") for _ in range(10)]
    campaign = grant_campaign(name="예산 한도", budget_points=900, holdout_percent=Decimal("30"))
    run_all(campaign)
    treated = [m for m in members if not held_out(campaign.pk, m.pk, Decimal("30"))]
    paid = [m for m in members if account_of(m).balance == 300]
    assert len(paid) == min(len(treated), 3)
    assert all(m in treated for m in paid)
    assert Exposure.objects.filter(campaign=campaign).count() == 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_workers_on_the_same_chunk_credit_each_member_once() -> None:
    members = [new_member(birthday="1990-12-01") for _ in range(6)]
    campaign = grant_campaign(name="동시 실행", budget_points=100_000)
    plan = campaign_grant_plan(campaign_id=campaign.pk)
    id_from, id_to = plan.id_range[0], plan.id_range[1] + 1
    results = run_together([lambda: campaign_grant_chunk(campaign_id=campaign.pk, run=plan.run,
                                                         id_from=id_from, id_to=id_to)] * 2)
    assert errors_of(results) == []
    assert sum(r.value.members for r in results) == 6
    assert GrantChunk.objects.filter(campaign=campaign).count() == 1
    assert [account_of(m).balance for m in members] == [300] * 6
    assert campaign.slices.model.objects.filter(campaign=campaign).count() > 0
    assert sum(campaign.slices.model.objects.filter(campaign=campaign).values_list("remaining", flat=True)) \
        == 100_000 - 6 * 300
    assert_ledger_sound()


def test_the_grant_run_is_a_task_run_with_the_grant_totals(monkeypatch) -> None:
    monkeypatch.setattr(grants, "GRANT_CHUNK", 3)
    members = [new_member(birthday="1990-12-01") for _ in range(8)]
    new_member(birthday="1990-06-01")  # not in the segment
    campaign = grant_campaign(name="합계", budget_points=300 * 5, holdout_percent=Decimal("20"))
    run = run_all(campaign)
    control = [m for m in members if held_out(campaign.pk, m.pk, Decimal("20"))]
    treated = len(members) - len(control)
    assert run.key == grant_run_key(campaign.pk, 1) and run.task == "campaigns.campaign_grant_plan_task"
    assert run.args == {"campaign_id": campaign.pk, "run": 1, "then": "campaigns.campaign_results_measure_task",
                        "then_kwargs": {"campaign_id": campaign.pk}}
    assert run.status == RunStatus.DONE and run.chunks_total == run.chunks_done >= 3 and run.chunks_failed == 0
    assert run.counts == {"members": min(treated, 5), "points": 300 * min(treated, 5), "replayed": 0,
                          "refused": 0, "held_out": len(control), "budget_skipped": max(treated - 5, 0)}
    assert sum(account_of(m).balance for m in members) == run.counts["points"]
    assert_ledger_sound()


def test_a_grant_chunk_delivered_twice_is_replayed_and_credits_nobody_again() -> None:
    members = [new_member(birthday="1990-12-01") for _ in range(3)]
    campaign = grant_campaign(name="두 번 배달", budget_points=10_000)
    run = run_all(campaign)
    chunk = TaskChunk.objects.get(run=run)
    assert campaign_grant_chunk_task(chunk.pk) == "replayed"
    chunk.refresh_from_db()
    assert chunk.status == ChunkStatus.DONE and chunk.attempts == 1
    assert [account_of(m).balance for m in members] == [300] * 3
    assert sum(campaign.slices.values_list("remaining", flat=True)) == 10_000 - 900


def test_a_chunk_that_died_after_fixing_its_members_grants_the_same_members_on_its_retry(monkeypatch) -> None:
    from django.db import OperationalError

    members = [new_member(birthday="1990-12-01") for _ in range(4)]
    campaign = grant_campaign(name="재시도", budget_points=300 * 3)
    real = grants.points_grant_chunk
    failures = [OperationalError("server closed the connection unexpectedly")]

    def flaky(**kwargs):
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(grants, "points_grant_chunk", flaky)
    with eager_tasks(), pytest.raises(Retry):  # the first attempt fixed its members, then lost the database
        campaign_grant_plan_task(campaign.pk)
    chunk = TaskChunk.objects.get(run__key=grant_run_key(campaign.pk, 1))
    assert chunk.status == ChunkStatus.RUNNING and GrantChunk.objects.filter(campaign=campaign).count() == 1
    # apply() runs the retry in this process as a worker would after the backoff
    assert campaign_grant_chunk_task.apply(args=[chunk.pk]).get() == "done" and not failures
    chunk.refresh_from_db()
    run = TaskRun.objects.get(pk=chunk.run_id)
    assert chunk.attempts == 2 and run.status == RunStatus.DONE
    assert run.counts["members"] == 3 and run.counts["budget_skipped"] == 1
    assert sorted(account_of(m).balance for m in members) == [0, 300, 300, 300]
    assert sum(campaign.slices.values_list("remaining", flat=True)) == 0  # reserved once
    assert_ledger_sound()


def test_a_grant_whose_plan_died_before_its_run_is_due_again() -> None:
    new_member(birthday="1990-12-01")
    campaign = grant_campaign(name="계획 중단")
    plan = campaign_grant_plan(campaign_id=campaign.pk)  # the run number is fixed, no task run yet
    assert plan.run == 1 and grants_due() == [campaign.pk]
    with eager_tasks():
        campaigns_advance_task()
    assert grants_due() == [] and TaskRun.objects.get(key=grant_run_key(campaign.pk, 1)).status == RunStatus.DONE
    assert CampaignAward.objects.filter(campaign=campaign).count() == 1


def test_a_grant_before_its_date_records_no_run() -> None:
    from datetime import timedelta

    from django.utils import timezone

    campaign = grant_campaign(name="아직", starts_at=timezone.now() + timedelta(days=1),
                              ends_at=timezone.now() + timedelta(days=2))
    with eager_tasks():
        assert campaign_grant_plan_task(campaign.pk) is None
    assert not TaskRun.objects.exists() and not GrantChunk.objects.exists()


def test_a_grant_takes_whole_members_and_leaves_the_odd_points_in_the_slice_it_took_them_from() -> None:
    """The points short of a whole member's go back to the slice they came from, which the grant
    already holds: no other slice is locked (the remainder used to go to slice 0: a deadlock
    with a purchase walking the slices in order)."""
    from campaigns.budget import budget_left, budget_reserve
    from campaigns.models import BudgetSlice

    campaign = launched(name="나머지", kind=CampaignKind.GRANT, bonus_points=30, budget_points=160,
                        segment=Segment.objects.create(name=unique("전원")))
    BudgetSlice.objects.filter(campaign=campaign, number=0).update(remaining=0)  # slice 0 spent already
    before = dict(BudgetSlice.objects.filter(campaign=campaign).values_list("number", "remaining"))
    taken = budget_reserve(campaign.pk, 3, 100, unit=30)
    after = dict(BudgetSlice.objects.filter(campaign=campaign).values_list("number", "remaining"))
    assert taken == 90 and budget_left(campaign.pk) == sum(before.values()) - 90
    assert all(after[number] <= before[number] for number in before)  # no slice it did not take from
    assert after[0] == 0


def test_a_finished_grant_run_queues_the_measurement_of_the_campaigns_results() -> None:
    """The page reads the last measurement: the run's end queues one (through the outbox, once
    its last chunk is committed), so the page shows the whole grant without waiting an hour."""
    members = [new_member(birthday="1990-12-03") for _ in range(4)]
    campaign = grant_campaign(name="측정 예약")
    measure = OutboxMessage.objects.filter(task="campaigns.campaign_results_measure_task",
                                           kwargs={"campaign_id": campaign.pk})
    with eager_tasks():
        campaign_grant_plan_task(campaign.pk)
    assert measure.count() == 1

    campaign_results_measure_task(**measure.get().kwargs)

    results = campaign_results(campaign)
    assert results is not None
    assert results.members == len(members) and results.points == 300 * len(members)
