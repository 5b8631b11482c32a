"""The outbox: work that follows a write survives a broker outage, and is sent once it is back.

The broker is a private ``redis-server`` this test starts and stops (never the machine's Redis).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse

from loyalty import outbox
from loyalty.models import OutboxMessage
from loyalty.outbox import outbox_dispatch, outbox_dispatch_one, outbox_enqueue
from loyalty.services.imports import member_import_preview, member_import_upload
from members.imports.jobs import ImportState, MemberImport
from tests.loyalty.scheduled_work import PrivateRedis, broker_in_use

DATA = Path(__file__).resolve().parent.parent / "data" / "members"


@pytest.fixture(autouse=True)
def _broker_state_forgotten():
    outbox._broker_down_since.clear()
    yield
    outbox._broker_down_since.clear()


@pytest.mark.django_db
def test_a_message_is_part_of_the_write_and_rolls_back_with_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_enqueue("loyalty.outbox_dispatch_task")
        raise RuntimeError("the write failed")
    assert not OutboxMessage.objects.exists()


def previewed_job(settings, tmp_path) -> MemberImport:
    settings.DANGOL_IMPORT_DIR = tmp_path / "imports"
    with (DATA / "members_utf8.csv").open("rb") as handle:
        job = member_import_upload(file=handle, file_name="members_utf8.csv")
    member_import_preview(job)
    return job


def queued_tasks(redis: PrivateRedis) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in redis.client().lrange("celery", 0, -1)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_the_broker_stopped_the_admin_confirms_at_once_and_the_run_is_sent_once_it_is_back(
        settings, tmp_path, admin_client):
    redis = PrivateRedis().start()
    try:
        with broker_in_use(settings, redis.url):
            job = previewed_job(settings, tmp_path)
            redis.stop()
            started = time.monotonic()
            response = admin_client.post(reverse("admin:members_memberimport_confirm", args=[job.pk]))
            elapsed = time.monotonic() - started
            assert response.status_code == 302 and elapsed < 2.0, elapsed
            job.refresh_from_db()
            assert job.state == ImportState.QUEUED
            message = OutboxMessage.objects.get()
            assert message.dispatched_at is None and message.attempts == 1 and message.last_error
            assert outbox_dispatch() == 0  # the beat task while the broker is still away: nothing lost

            redis.start()  # the broker is back (same port, empty)
            assert outbox_dispatch() == 1
            assert outbox_dispatch() == 0  # sent once
            message.refresh_from_db()
            assert message.dispatched_at is not None
            assert queued_tasks(redis) == ["loyalty.member_import_run_task"]
    finally:
        redis.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_broker_that_accepts_and_never_answers_does_not_hold_the_request(settings):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the kernel; nothing ever replies
    try:
        with broker_in_use(settings, f"redis://127.0.0.1:{silent.getsockname()[1]}/0"):
            settings.BROKER_PUBLISH_TIMEOUT = 0.5
            started = time.monotonic()
            message = outbox_enqueue("loyalty.outbox_dispatch_task")  # autocommit: dispatched at once
            assert time.monotonic() - started < 3.0
            message.refresh_from_db()
            assert message.dispatched_at is None and message.attempts == 1
            started = time.monotonic()
            assert outbox_dispatch_one(message.pk) is False  # moments later: not even tried
            assert time.monotonic() - started < 0.5
    finally:
        silent.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_in_eager_mode_the_confirmed_import_runs_at_once_outside_the_outbox_lock(settings, tmp_path):
    from loyalty.services.imports import member_import_confirm
    from tests.loyalty.scheduled_work import eager_tasks

    job = previewed_job(settings, tmp_path)
    with eager_tasks():  # the embedded quick start: no worker; durable services must not nest
        assert member_import_confirm(job)
    job.refresh_from_db()
    assert job.state == ImportState.DONE
    assert OutboxMessage.objects.get().dispatched_at is not None
