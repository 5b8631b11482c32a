"""The beat schedule, seeded after every migrate with ``get_or_create`` by name.

Operators may change times or disable a task in the admin; seeding only adds the schedules
that are missing, so a deploy never overwrites an operator's times or ``enabled`` choice.
"""

from __future__ import annotations

from typing import Any

SCHEDULES: list[dict[str, Any]] = [
    {
        "name": "Expire points that are due (nightly)",
        "task": "loyalty.points_expire_due_task",
        "crontab": {"minute": "10", "hour": "0"},
    },
    {
        "name": "Refresh the dashboard (hourly)",
        "task": "loyalty.dashboard_refresh_task",
        "crontab": {"minute": "5", "hour": "*"},
    },
]


def schedules_seed(**kwargs: Any) -> None:
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    for entry in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **entry["crontab"], day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
        )
        PeriodicTask.objects.get_or_create(
            name=entry["name"], defaults={"task": entry["task"], "crontab": crontab}
        )
