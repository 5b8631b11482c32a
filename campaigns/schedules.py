"""The campaigns' beat schedule, seeded after every migrate with ``get_or_create`` by name
(an operator's change of time or ``enabled`` in the admin survives a deploy)."""

from __future__ import annotations

from typing import Any

from loyalty.schedules import schedules_seed as loyalty_schedules_seed

SCHEDULES: list[dict[str, Any]] = [
    {
        "name": "Move campaign statuses and run due grants (every 5 minutes)",
        "task": "campaigns.campaigns_advance_task",
        "crontab": {"minute": "*/5", "hour": "*"},
    },
    {
        "name": "Count segments exactly (hourly)",
        "task": "campaigns.segments_count_task",
        "crontab": {"minute": "20", "hour": "*"},
    },
    {
        "name": "Measure campaign results: reach, points, redemptions, holdout groups (hourly)",
        "task": "campaigns.results_measure_task",
        "crontab": {"minute": "40", "hour": "*"},
    },
]


def schedules_seed(**kwargs: Any) -> list[str]:
    return loyalty_schedules_seed(SCHEDULES)
