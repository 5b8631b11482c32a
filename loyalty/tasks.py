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


@shared_task(name="loyalty.member_import_run_task", acks_late=True)
def member_import_run_task(job_id: int) -> int:
    """A confirmed member import, run in chunks with its progress on the job (safe to replay)."""
    from .services.imports import member_import_run

    return member_import_run(job_id).processed_rows


# --- batch chunks (helper "batch"): one chunk of members per task, independent of the others ---


@shared_task(name="loyalty.points_grant_chunk_task", acks_late=True)
def points_grant_chunk_task(member_ids: list[int], points: int, key_prefix: str, description: str,
                            validity_days: int | None = None) -> dict[str, int]:
    """One chunk of a grant to a segment (replayable: each member's key is granted once)."""
    from dataclasses import asdict

    from .services.grants import points_grant_chunk

    return asdict(points_grant_chunk(member_ids=member_ids, points=points, key_prefix=key_prefix,
                                     description=description, validity_days=validity_days))


@shared_task(name="loyalty.points_expire_chunk_task", acks_late=True)
def points_expire_chunk_task(account_id_from: int, account_id_to: int, today: str) -> dict[str, int]:
    """One range of accounts ``[from, to)`` of an expiry run as of ``today`` (ISO date; replayable)."""
    from dataclasses import asdict
    from datetime import date

    from .services.expiry import points_expire_chunk

    return asdict(points_expire_chunk(account_id_from=account_id_from, account_id_to=account_id_to,
                                      today=date.fromisoformat(today)))
