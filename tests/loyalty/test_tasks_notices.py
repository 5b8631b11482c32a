"""Notices: "points expiring soon" and "your tier will drop on <date> unless…", by email, in Korean
or English, only to members who consented, each sent once however often the task runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail

from loyalty.models import NoticeKind, NoticeLog, ProgramPolicy, TaskRun
from loyalty.notices import Notice, notice_email
from loyalty.tasks import points_expiring_notices_task, tier_drop_notices_task
from members.models import Tier
from tests.conftest import buy, entry_tier, give, new_member
from tests.loyalty.scheduled_work import eager_tasks

pytestmark = pytest.mark.django_db


def consenting(**fields):
    return new_member(email=f"m{fields.pop('n', 1)}@example.com", marketing_email=True, **fields)


def expiring_run(day: date) -> TaskRun:
    with eager_tasks():
        return TaskRun.objects.get(pk=points_expiring_notices_task(today=day.isoformat(), size=2))


def test_members_who_consented_are_told_once_which_points_expire(frozen_clock):
    told = consenting(n=1)
    silent = new_member(email="no@example.com", marketing_email=False)
    later = consenting(n=2)
    for member in (told, silent):
        give(member, 300, validity_days=20)
    give(told, 200, validity_days=25)
    give(later, 100, validity_days=60)  # not within 30 days
    run = expiring_run(frozen_clock.today)
    assert [message.to for message in mail.outbox] == [[told.email]]
    message = mail.outbox[0]
    first = (frozen_clock.today + timedelta(days=20)).isoformat()
    assert "500 P" in message.body and first in message.body and "소멸" in message.subject
    assert run.counts["sent"] == 1
    log = NoticeLog.objects.get()
    assert (log.member_id, log.kind, log.language) == (told.pk, NoticeKind.POINTS_EXPIRING, "ko")
    assert log.sent_at is not None

    frozen_clock.advance(1)
    expiring_run(frozen_clock.today)  # the next day: the same expiry date, no second mail
    assert len(mail.outbox) == 1


def test_a_mail_the_backend_refuses_is_tried_again_on_the_next_run(frozen_clock, monkeypatch):
    member = consenting()
    give(member, 300, validity_days=10)
    from django.core.mail.backends.locmem import EmailBackend

    def refuse(self, messages):
        raise ConnectionRefusedError("smtp down")

    with monkeypatch.context() as patch:
        patch.setattr(EmailBackend, "send_messages", refuse)
        assert expiring_run(frozen_clock.today).counts["failed"] == 1
    assert not NoticeLog.objects.exists() and mail.outbox == []
    frozen_clock.advance(1)
    assert expiring_run(frozen_clock.today).counts["sent"] == 1 and len(mail.outbox) == 1


def test_the_english_notice_reads_in_english():
    notice = Notice(member_id=1, email="a@example.com", language="en", kind=NoticeKind.POINTS_EXPIRING, key="k",
                    context={"name": "Kim", "points": 500, "first_date": date(2026, 1, 31),
                             "until": date(2026, 2, 1), "days": 30})
    message = notice_email(notice)
    assert message.subject == "[Dangol] 500 points start to expire on 2026-01-31"
    assert "500 P of your points expire within the next 30 days" in message.body


def test_members_about_to_drop_a_tier_are_told_how_much_keeps_it(frozen_clock):
    entry_tier()
    Tier.objects.create(code="gold", name="Gold", rank=1, threshold=300_000, grace_days=0)
    ProgramPolicy.objects.filter(pk=1).update(tier_evaluation_day=1, tier_evaluation_every_months=1,
                                              tier_notice_days=14)
    frozen_clock.set(date(2025, 3, 20))  # out of the window as it stands on 2026-04-01
    dropping, keeping = consenting(n=1), consenting(n=2)
    buy(dropping, 300_000)
    buy(keeping, 300_000)
    frozen_clock.set(date(2026, 3, 1))
    buy(dropping, 100_000)
    buy(keeping, 300_000)
    assert tier_drop_notices_task(today="2026-03-17") is None  # not 14 days before a drop date
    with eager_tasks():
        run_id = tier_drop_notices_task(today="2026-03-18", size=2)  # 2026-04-01 is 14 days away
    assert [message.to for message in mail.outbox] == [[dropping.email]]
    body = mail.outbox[0].body
    assert "2026-04-01" in body and "200000" in body and "Gold" in body
    assert TaskRun.objects.get(pk=run_id).counts["sent"] == 1
    with eager_tasks():
        tier_drop_notices_task(today="2026-03-18", size=2)
    assert len(mail.outbox) == 1
