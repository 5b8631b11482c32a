"""The beat schedule, seeded after every migrate with ``get_or_create`` by name.

Operators may change times or disable a task in the admin (django-celery-beat's "Periodic
tasks"); seeding only adds the schedules that are missing, so a deploy never overwrites an
operator's times or ``enabled`` choice. A schedule whose task is not registered in this
deployment (a task of an app that is not installed) is not seeded: beat would send a task no worker knows.

Times are the programme's time zone. The order matters: expiry, then the "expiring soon"
notices (so they never announce points that just expired; the expiry run also queues them
when it closes), tier evaluation, then the tier-drop notices.
"""

from __future__ import annotations

from typing import Any

SCHEDULES: list[dict[str, Any]] = [
    {
        "name": "Record pending points that became available (daily)",
        "task": "loyalty.pending_release_task",
        "crontab": {"minute": "5", "hour": "0"},
    },
    {
        "name": "Expire points that are due (nightly)",
        "task": "loyalty.points_expire_due_task",
        "crontab": {"minute": "10", "hour": "0"},
    },
    {
        "name": "Pay birthday points (daily)",
        "task": "loyalty.birthdays_pay_task",
        "crontab": {"minute": "30", "hour": "0"},
    },
    {
        "name": "Evaluate tiers (daily; changes only on evaluation dates)",
        "task": "loyalty.tiers_evaluate_task",
        "crontab": {"minute": "0", "hour": "2"},
    },
    {
        "name": "Send 'points expiring soon' notices (daily)",
        "task": "loyalty.points_expiring_notices_task",
        "crontab": {"minute": "0", "hour": "10"},
    },
    {
        "name": "Send 'your tier will drop' notices (daily)",
        "task": "loyalty.tier_drop_notices_task",
        "crontab": {"minute": "30", "hour": "10"},
    },
    {
        "name": "Dispatch the outbox (every minute)",
        "task": "loyalty.outbox_dispatch_task",
        "crontab": {"minute": "*", "hour": "*"},
    },
    {
        "name": "Refresh the dashboard (hourly)",
        "task": "loyalty.dashboard_refresh_task",
        "crontab": {"minute": "5", "hour": "*"},
    },
]


def schedules_seed(entries: list[dict[str, Any]] | None = None, **kwargs: Any) -> list[str]:
    """Add the missing schedules of registered tasks; returns the names added.

    ``entries`` defaults to loyalty's own; the campaigns app seeds its list through this too.
    """
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from config.celery import app

    app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery is lazy)
    registered = set(app.tasks.keys())
    added = []
    for entry in SCHEDULES if entries is None else entries:
        if entry["task"] not in registered:
            continue
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **entry["crontab"], day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
        )
        _task, created = PeriodicTask.objects.get_or_create(
            name=entry["name"], defaults={"task": entry["task"], "crontab": crontab}
        )
        if created:
            added.append(entry["name"])
    return added
