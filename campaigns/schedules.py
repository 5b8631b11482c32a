"""The campaigns' beat schedule, seeded after every migrate with ``get_or_create`` by name
(an operator's change of time or ``enabled`` in the admin survives a deploy)."""

from __future__ import annotations

from typing import Any

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
]


def schedules_seed(**kwargs: Any) -> None:
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    for entry in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **entry["crontab"], day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
        )
        PeriodicTask.objects.get_or_create(name=entry["name"], defaults={"task": entry["task"], "crontab": crontab})
