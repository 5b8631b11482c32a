"""The Celery app the worker tests start (``celery -A tests.loyalty.worker_tasks worker``).

The project's app and tasks, plus one slow chunk task: it expires the accounts of its chunk one
by one with a pause between them, so a test can ``kill -9`` its worker half way through a chunk.
"""

from __future__ import annotations

import time

import django

from config.celery import app

django.setup()  # the worker imports this module before Django is ready

from loyalty.task_runs import chunk_task  # noqa: E402

__all__ = ["app", "slow_expire_chunk_task"]

PAUSE_SECONDS = 0.4


@chunk_task("tests.slow_expire_chunk_task")
def slow_expire_chunk_task(chunk_id: int) -> str:
    from datetime import date

    from loyalty.models import Account, TaskChunk
    from loyalty.services import account_expire_due
    from loyalty.task_runs import chunk_run

    def body(chunk: TaskChunk) -> dict[str, int]:
        today = date.fromisoformat(chunk.run.args["today"])
        members = list(Account.objects.filter(pk__gte=chunk.id_from, pk__lt=chunk.id_to, member__isnull=False)
                       .order_by("pk").values_list("member_id", flat=True))
        points = 0
        for member_id in members:
            time.sleep(PAUSE_SECONDS)
            points += account_expire_due(member_id=member_id, today=today).data["points"]
        return {"members": len(members), "points": points}

    return chunk_run(chunk_id, body)
