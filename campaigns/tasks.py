"""Campaign tasks: ids in, one service call, safe to replay (the services check the state).

A grant runs on loyalty's task runs (:mod:`loyalty.task_runs`): one run per grant run, a chunk
task per range of members, with loyalty's retry and failure policy and its admin page.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from loyalty.task_runs import chunk_run, chunk_task, orchestrator, run_fan_out

from .grants import GRANT_TASK, campaign_grant_chunk, campaign_grant_plan, grants_due
from .models import Segment
from .results import results_due, results_measure
from .services import campaign_simulate, campaigns_advance, segment_count


@shared_task(name="campaigns.campaigns_advance_task", acks_late=True)
def campaigns_advance_task() -> int:
    """Every few minutes: move statuses to what the windows say (for the admin's eyes only:
    whether a campaign pays is decided at each purchase), and start the grants now due."""
    for campaign_id in grants_due():
        campaign_grant_plan_task.delay(campaign_id)
    return campaigns_advance()


@orchestrator(GRANT_TASK)
def campaign_grant_plan_task(campaign_id: int) -> int | None:
    """Fix a due grant's run and fan it out as a task run (replayable: a second delivery finds
    the run and re-sends only its unfinished chunks). ``None`` while the grant's date is ahead.

    When the run's last chunk finishes, the run queues a measurement of the campaign's results
    (``then``): the page then shows the whole grant without waiting for the hourly one."""
    plan = campaign_grant_plan(campaign_id=campaign_id)
    if not plan.run:
        return None
    run = run_fan_out(task=GRANT_TASK, key=plan.key, chunk_task=campaign_grant_chunk_task, id_range=plan.id_range,
                      chunk_size=plan.chunk_size,
                      args={"campaign_id": campaign_id, "run": plan.run,
                            "then": "campaigns.campaign_results_measure_task",
                            "then_kwargs": {"campaign_id": campaign_id}})
    return run.pk


@chunk_task("campaigns.campaign_grant_chunk_task")
def campaign_grant_chunk_task(chunk_id: int) -> str:
    """One range of members of a grant run, done once (each member is credited once per run)."""
    return chunk_run(chunk_id, lambda chunk: campaign_grant_chunk(
        campaign_id=int(chunk.run.args["campaign_id"]), run=int(chunk.run.args["run"]),
        id_from=chunk.id_from, id_to=chunk.id_to))


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


@shared_task(name="campaigns.campaign_results_measure_task", acks_late=True)
def campaign_results_measure_task(campaign_id: int) -> bool:
    """Measure one campaign's results (awards, redemptions, the holdout's groups) and keep them."""
    return results_measure(campaign_id=campaign_id) is not None


@shared_task(name="campaigns.results_measure_task", acks_late=True)
def results_measure_task() -> int:
    """Hourly: queue a measurement of every launched campaign still due one (one task each)."""
    ids = results_due()
    for pk in ids:
        campaign_results_measure_task.delay(pk)
    return len(ids)
