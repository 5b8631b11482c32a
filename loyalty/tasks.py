"""Scheduled loyalty work: each task makes one service call and is safe to replay.

Batch work is an orchestrator task (one a day, keyed by the day: a second delivery finds the
day's run) that splits an id range into chunks with :func:`loyalty.task_runs.run_fan_out`, and a
chunk task per chunk, run by any worker, each done once (:func:`loyalty.task_runs.chunk_run`),
with the retry and failure policy of :func:`loyalty.task_runs.chunk_task`.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.conf import settings

from . import clock
from .models import TaskChunk
from .task_runs import account_id_range, chunk_run, chunk_task, member_id_range, orchestrator, run_fan_out


def day_of(today: str | None) -> date:
    return date.fromisoformat(today) if today else clock.today()


def chunk_day(chunk: TaskChunk) -> date:
    return date.fromisoformat(chunk.run.args["today"])


def chunk_size(size: int | None) -> int:
    return size or settings.DANGOL_CHUNK_SIZE


# Expiry --------------------------------------------------------------------------------------


@orchestrator("loyalty.points_expire_due_task")
def points_expire_due_task(today: str | None = None, size: int | None = None) -> int:
    """Nightly: expire due lots, a chunk of accounts per task (balances never wait for it);
    then the "points expiring soon" notices, through the outbox."""
    day = day_of(today)
    run = run_fan_out(task="loyalty.points_expire_due_task", key=f"points_expire:{day.isoformat()}",
                      chunk_task=points_expire_chunk_task, id_range=account_id_range(), chunk_size=chunk_size(size),
                      args={"today": day.isoformat(), "then": "loyalty.points_expiring_notices_task",
                            "then_kwargs": {"today": day.isoformat()}})
    return run.pk


@chunk_task("loyalty.points_expire_chunk_task")
def points_expire_chunk_task(chunk_id: int) -> str:
    from .services.expiry import points_expire_chunk

    return chunk_run(chunk_id, lambda chunk: points_expire_chunk(
        account_id_from=chunk.id_from, account_id_to=chunk.id_to, today=chunk_day(chunk)))


# Pending points ------------------------------------------------------------------------------


@orchestrator("loyalty.pending_release_task")
def pending_release_task(today: str | None = None, size: int | None = None) -> int:
    """Daily: record how many pending lots became available (balances already count them)."""
    day = day_of(today)
    run = run_fan_out(task="loyalty.pending_release_task", key=f"pending_release:{day.isoformat()}",
                      chunk_task=pending_release_chunk_task, id_range=account_id_range(),
                      chunk_size=chunk_size(size), args={"today": day.isoformat()})
    return run.pk


@chunk_task("loyalty.pending_release_chunk_task")
def pending_release_chunk_task(chunk_id: int) -> str:
    from .services.pending_release import pending_released_range

    return chunk_run(chunk_id, lambda chunk: pending_released_range(
        account_id_from=chunk.id_from, account_id_to=chunk.id_to, today=chunk_day(chunk)))


# Tiers ---------------------------------------------------------------------------------------


@orchestrator("loyalty.tiers_evaluate_task")
def tiers_evaluate_task(today: str | None = None, size: int | None = None) -> int | None:
    """Daily: on an evaluation date (or a tier's date plus its grace days) evaluate every member,
    a chunk per task; then the tier-drop notices. Other days record no run."""
    from members.models import Tier

    from .policy import policy_get
    from .services.tier_evaluation import evaluation_due

    day = day_of(today)
    if not evaluation_due(day, list(Tier.objects.filter(is_active=True)), policy_get()):
        return None
    run = run_fan_out(task="loyalty.tiers_evaluate_task", key=f"tiers_evaluate:{day.isoformat()}",
                      chunk_task=tiers_evaluate_chunk_task, id_range=member_id_range(), chunk_size=chunk_size(size),
                      args={"today": day.isoformat(), "then": "loyalty.tier_drop_notices_task",
                            "then_kwargs": {"today": day.isoformat(), "size": size}})
    return run.pk


@chunk_task("loyalty.tiers_evaluate_chunk_task")
def tiers_evaluate_chunk_task(chunk_id: int) -> str:
    from members.models import Tier

    from .policy import policy_get
    from .services.tier_evaluation import tiers_evaluate_chunk

    return chunk_run(chunk_id, lambda chunk: tiers_evaluate_chunk(
        member_id_from=chunk.id_from, member_id_to=chunk.id_to, today=chunk_day(chunk),
        tiers=list(Tier.objects.filter(is_active=True)), policy=policy_get()))


# Notices -------------------------------------------------------------------------------------


@orchestrator("loyalty.points_expiring_notices_task")
def points_expiring_notices_task(today: str | None = None, size: int | None = None) -> int:
    """Daily, after expiry: "points expiring soon" emails to consenting members, once per date."""
    day = day_of(today)
    run = run_fan_out(task="loyalty.points_expiring_notices_task", key=f"points_expiring_notices:{day.isoformat()}",
                      chunk_task=points_expiring_notices_chunk_task, id_range=member_id_range(),
                      chunk_size=chunk_size(size), args={"today": day.isoformat()})
    return run.pk


@chunk_task("loyalty.points_expiring_notices_chunk_task")
def points_expiring_notices_chunk_task(chunk_id: int) -> str:
    from .notices import notices_send, points_expiring_notices
    from .policy import policy_get

    return chunk_run(chunk_id, lambda chunk: notices_send(points_expiring_notices(
        member_id_from=chunk.id_from, member_id_to=chunk.id_to, today=chunk_day(chunk), policy=policy_get())))


@orchestrator("loyalty.tier_drop_notices_task")
def tier_drop_notices_task(today: str | None = None, size: int | None = None) -> int | None:
    """Daily: "your tier will drop on <date> unless…" to members of the tiers whose downgrade day
    is ``tier_notice_days`` away (other days record no run)."""
    from members.models import Tier

    from .policy import policy_get
    from .services.tier_evaluation import tier_drop_date

    day = day_of(today)
    policy = policy_get()
    if not any(tier_drop_date(tier, day, policy) for tier in Tier.objects.filter(is_active=True)):
        return None
    run = run_fan_out(task="loyalty.tier_drop_notices_task", key=f"tier_drop_notices:{day.isoformat()}",
                      chunk_task=tier_drop_notices_chunk_task, id_range=member_id_range(),
                      chunk_size=chunk_size(size), args={"today": day.isoformat()})
    return run.pk


@chunk_task("loyalty.tier_drop_notices_chunk_task")
def tier_drop_notices_chunk_task(chunk_id: int) -> str:
    from members.models import Tier

    from .notices import notices_send, tier_drop_notices
    from .policy import policy_get

    return chunk_run(chunk_id, lambda chunk: notices_send(tier_drop_notices(
        member_id_from=chunk.id_from, member_id_to=chunk.id_to, today=chunk_day(chunk), policy=policy_get(),
        tiers=list(Tier.objects.filter(is_active=True)))))


# Birthdays -----------------------------------------------------------------------------------


@orchestrator("loyalty.birthdays_pay_task")
def birthdays_pay_task(today: str | None = None, size: int | None = None) -> int:
    """Daily: the birthday points of the day's birthdays (once a year each), a chunk of members per task."""
    day = day_of(today)
    run = run_fan_out(task="loyalty.birthdays_pay_task", key=f"birthdays_pay:{day.isoformat()}",
                      chunk_task=birthdays_pay_chunk_task, id_range=member_id_range(), chunk_size=chunk_size(size),
                      args={"today": day.isoformat()})
    return run.pk


@chunk_task("loyalty.birthdays_pay_chunk_task")
def birthdays_pay_chunk_task(chunk_id: int) -> str:
    from .services.birthdays import birthdays_pay_chunk

    return chunk_run(chunk_id, lambda chunk: birthdays_pay_chunk(
        member_id_from=chunk.id_from, member_id_to=chunk.id_to, today=chunk_day(chunk)))


# The outbox ----------------------------------------------------------------------------------


@shared_task(name="loyalty.outbox_dispatch_task", acks_late=True)
def outbox_dispatch_task() -> int:
    """Every minute: publish what the outbox holds (work recorded while the broker was away)."""
    from .outbox import outbox_dispatch

    return outbox_dispatch()


# Other scheduled work ------------------------------------------------------------------------


@shared_task(name="loyalty.dashboard_refresh_task", acks_late=True)
def dashboard_refresh_task() -> int:
    """Hourly: sum the closed days into the dashboard's totals and take its snapshot (replayable)."""
    from .dashboard.totals import dashboard_refresh

    return dashboard_refresh().pk


@shared_task(name="loyalty.member_import_preview_task", acks_late=True)
def member_import_preview_task(job_id: int) -> int:
    """An uploaded member file's preview, its progress on the job; writes nothing else (replayable)."""
    from members.imports.jobs import MemberImport

    from .services.imports import member_import_preview

    job = MemberImport.objects.filter(pk=job_id).first()
    return member_import_preview(job).processed_rows if job is not None else 0


@shared_task(name="loyalty.member_import_run_task", acks_late=True)
def member_import_run_task(job_id: int) -> int:
    """A confirmed member import, run in chunks with its progress on the job (safe to replay)."""
    from .services.imports import member_import_run

    return member_import_run(job_id).processed_rows
