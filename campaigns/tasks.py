"""Campaign tasks: ids in, one service call, safe to replay (the services check the state)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from .models import Segment
from .services import campaign_simulate, campaigns_advance, segment_count


@shared_task(name="campaigns.campaigns_advance_task", acks_late=True)
def campaigns_advance_task() -> int:
    """Every few minutes: move statuses to what the windows say (for the admin's eyes only:
    whether a campaign pays is decided at each purchase)."""
    return campaigns_advance()


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
