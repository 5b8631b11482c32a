"""Reads for the campaigns admin that must stay fast at a million members."""

from __future__ import annotations

import json

from django.db import connection
from django.utils import timezone

from loyalty.models import TaskRun

from .grants import grant_run_key
from .models import Campaign, CampaignKind, Segment
from .targeting import segment_members


def segment_estimate(segment: Segment) -> int | None:
    """The planner's estimate of the segment's size (``EXPLAIN``, no row read): at once, at any
    size. ``None`` off PostgreSQL, where the page shows the last exact count alone."""
    if connection.vendor != "postgresql":
        return None
    sql, params = segment_members(segment, now=timezone.now()).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def grant_runs(campaign: Campaign) -> list[TaskRun]:
    """The task runs of a grant campaign, latest first (one per grant run; by their unique key)."""
    if campaign.kind != CampaignKind.GRANT or not campaign.grant_runs:
        return []
    keys = [grant_run_key(campaign.pk, run) for run in range(1, campaign.grant_runs + 1)]
    return list(TaskRun.objects.filter(key__in=keys).order_by("-started_at"))
