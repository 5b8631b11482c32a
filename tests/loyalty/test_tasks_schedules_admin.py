"""Every scheduled task has a beat schedule (seeded by name, editable in the admin), and the
runs, chunks, outbox and notices are readable in the admin, in Korean."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from loyalty.models import NoticeKind, NoticeLog, OutboxMessage, TaskChunk, TaskRun
from loyalty.schedules import SCHEDULES, schedules_seed
from tests.conftest import new_member

pytestmark = pytest.mark.django_db


def test_every_registered_scheduled_task_is_seeded_once_and_unknown_ones_are_not():
    from django_celery_beat.models import PeriodicTask

    schedules_seed()
    seeded = dict(PeriodicTask.objects.values_list("task", "name"))
    for task in ("loyalty.pending_release_task", "loyalty.points_expire_due_task", "loyalty.tiers_evaluate_task",
                 "loyalty.points_expiring_notices_task", "loyalty.tier_drop_notices_task",
                 "loyalty.outbox_dispatch_task", "loyalty.dashboard_refresh_task", "loyalty.birthdays_pay_task"):
        assert task in seeded
    count = PeriodicTask.objects.count()
    assert schedules_seed() == [] and PeriodicTask.objects.count() == count
    assert len({entry["name"] for entry in SCHEDULES}) == len(SCHEDULES)
    unknown = {"name": "Nobody runs this", "task": "nowhere.unknown_task", "crontab": {"minute": "0", "hour": "1"}}
    assert schedules_seed([unknown]) == [] and not PeriodicTask.objects.filter(task="nowhere.unknown_task").exists()


def test_the_admin_shows_runs_chunks_outbox_and_notices(admin_client):
    member = new_member(email="a@example.com")
    run = TaskRun.objects.create(task="loyalty.points_expire_due_task", key="points_expire:2025-03-10",
                                 args={"today": "2025-03-10"}, chunks_total=1, counts={"points": 5})
    chunk = TaskChunk.objects.create(run=run, index=0, id_from=1, id_to=100)
    message = OutboxMessage.objects.create(task="loyalty.member_import_run_task", kwargs={"job_id": 1})
    notice = NoticeLog.objects.create(member=member, kind=NoticeKind.POINTS_EXPIRING, key="points_expiring:1:x",
                                      email="a@example.com", language="ko")
    with translation.override("ko"):
        for name, obj in (("taskrun", run), ("taskchunk", chunk), ("outboxmessage", message),
                          ("noticelog", notice)):
            listing = admin_client.get(reverse(f"admin:loyalty_{name}_changelist"))
            assert listing.status_code == 200, name
            page = admin_client.get(reverse(f"admin:loyalty_{name}_change", args=[obj.pk]))
            assert page.status_code == 200, name
        page = admin_client.get(reverse("admin:loyalty_taskrun_changelist") + "?q=points_expire:2025-03-10")
        assert "points_expire:2025-03-10" in page.content.decode()
        page = admin_client.get(reverse("admin:loyalty_outboxmessage_changelist") + "?dispatched=no")
        assert "member_import_run_task" in page.content.decode()
        assert admin_client.get(reverse("admin:loyalty_taskrun_add")).status_code == 403
