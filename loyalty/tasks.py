"""Scheduled loyalty work: each task makes one service call and is safe to replay."""

from __future__ import annotations

from celery import shared_task

from .services import points_expire_due


@shared_task(name="loyalty.points_expire_due_task", acks_late=True)
def points_expire_due_task() -> int:
    """Nightly: write the expiry entries for lots past their date (balances never wait for it)."""
    return points_expire_due()


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
