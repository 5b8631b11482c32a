"""Campaign tasks: ids in, one service call, safe to replay (the services check the state)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from .grants import campaign_grant_chunk, campaign_grant_plan, grants_due
from .models import Segment
from .results import holdout_measure, holdouts_due
from .services import campaign_simulate, campaigns_advance, segment_count


@shared_task(name="campaigns.campaigns_advance_task", acks_late=True)
def campaigns_advance_task() -> int:
    """Every few minutes: move statuses to what the windows say (for the admin's eyes only:
    whether a campaign pays is decided at each purchase), and start the grants now due."""
    for campaign_id in grants_due():
        campaign_grant_plan_task.delay(campaign_id)
    return campaigns_advance()


@shared_task(name="campaigns.campaign_grant_plan_task", acks_late=True)
def campaign_grant_plan_task(campaign_id: int) -> int:
    """Fix a due grant's run and queue one task per id range (replayable: same run, same ranges)."""
    plan = campaign_grant_plan(campaign_id=campaign_id)
    for id_from, id_to in plan.ranges:
        campaign_grant_chunk_task.delay(campaign_id, plan.run, id_from, id_to)
    return len(plan.ranges)


@shared_task(name="campaigns.campaign_grant_chunk_task", acks_late=True)
def campaign_grant_chunk_task(campaign_id: int, run: int, id_from: int, id_to: int) -> int:
    """One id range of a grant run (replayable: each member is credited once per run)."""
    return campaign_grant_chunk(campaign_id=campaign_id, run=run, id_from=id_from, id_to=id_to)


@shared_task(name="campaigns.segment_count_task", acks_late=True)
def segment_count_task(segment_id: int) -> int:
    """Count one segment exactly and keep the figure with its time."""
    return segment_count(segment_id=segment_id)


@shared_task(name="campaigns.segments_count_task", acks_late=True)
def segments_count_task() -> int:
    """Hourly: queue an exact count of every segment (one task each)."""
    ids = list(Segment.objects.values_list("pk", flat=True))
    for pk in ids:
        segment_count_task.delay(pk)
    return len(ids)


@shared_task(name="campaigns.campaign_simulate_task", acks_late=True)
def campaign_simulate_task(campaign_id: int) -> dict[str, Any]:
    """Simulate a campaign over last month's activity and store the figures on it."""
    return campaign_simulate(campaign_id=campaign_id)


@shared_task(name="campaigns.campaign_holdout_measure_task", acks_late=True)
def campaign_holdout_measure_task(campaign_id: int) -> bool:
    """Measure one holdout campaign's treatment and control and keep the reading."""
    return holdout_measure(campaign_id=campaign_id) is not None


@shared_task(name="campaigns.holdouts_measure_task", acks_late=True)
def holdouts_measure_task() -> int:
    """Hourly: queue a measurement of every holdout campaign still due one (one task each)."""
    ids = holdouts_due()
    for pk in ids:
        campaign_holdout_measure_task.delay(pk)
    return len(ids)
