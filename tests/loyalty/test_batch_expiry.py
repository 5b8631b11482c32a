"""Expiry by ranges of accounts writes exactly what the per-member expiry writes."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from loyalty.ledger import expiries_post
from loyalty.models import Account, EntryKind, LedgerEntry, Lot, OperationKind
from loyalty.services import account_expire_due, points_expire_due, purchase_refund
from loyalty.services.expiry import expiry_chunks, expiry_description, points_expire_chunk
from loyalty.services.grants import ChunkResult
from members.models import Member, MemberStatus
from tests.conftest import (
    account_of,
    assert_ledger_sound,
    buy,
    errors_of,
    give,
    new_member,
    run_together,
    spend,
    unique,
)
from tests.loyalty.batch_rows import Rollback, ledger_rows

pytestmark = pytest.mark.django_db


def world(frozen_clock: Any) -> list[Member]:
    """Members with lots due on several dates, partly spent, pending, in debt, not due, closed."""
    two_dates = new_member()
    give(two_dates, 300, validity_days=10)
    give(two_dates, 200, validity_days=20)
    give(two_dates, 50, validity_days=20)  # two lots of one date: one entry, two movements
    give(two_dates, 1000, validity_days=400)  # not due
    partly_spent = new_member()
    give(partly_spent, 1500, validity_days=15)
    give(partly_spent, 500, validity_days=300)
    spend(partly_spent, 1000)  # soonest-to-expire first: 500 of the first lot are left to expire
    pending = new_member()
    give(pending, 100, validity_days=5)
    buy(pending, "50000")  # pending points in the result
    in_debt = new_member()
    order = unique("order")
    buy(in_debt, "100000", order_id=order, occurred_at=frozen_clock.days_ago(8))
    spend(in_debt, 1000)
    give(in_debt, 400, validity_days=12)
    purchase_refund(order_id=order, refund_id=unique("refund"), amount="100000")
    nothing_due = new_member()
    give(nothing_due, 700, validity_days=100)
    withdrawn = new_member()
    give(withdrawn, 80, validity_days=3)
    Member.objects.filter(pk=withdrawn.pk).update(status=MemberStatus.WITHDRAWN)
    no_points = new_member()
    frozen_clock.advance(30)
    assert account_of(in_debt).debt > 0
    return [two_dates, partly_spent, pending, in_debt, nothing_due, withdrawn, no_points]


def all_accounts() -> tuple[int, int]:
    (start, end), = expiry_chunks(size=10**9)
    return start, end


@pytest.mark.postgres
def test_the_range_door_writes_exactly_what_the_per_member_expiry_writes(frozen_clock):
    members = world(frozen_clock)
    start, end = all_accounts()
    with pytest.raises(Rollback), transaction.atomic():
        done = expiries_post(account_id_from=start, account_id_to=end, today=frozen_clock.today,
                             describe=expiry_description)
        batch = ledger_rows(members, OperationKind.EXPIRE)
        assert_ledger_sound()
        raise Rollback
    by_service = {m.pk: account_expire_due(member_id=m.pk).data["points"] for m in members}
    assert {d.member_id: d.points for d in done} == {pk: p for pk, p in by_service.items() if p}
    assert sorted(by_service.values())[-4:] == [80, 100, 500, 550]
    assert ledger_rows(members, OperationKind.EXPIRE) == batch
    assert len(batch["operations"]) == 4 and all(op[6] for op in batch["operations"])
    assert_ledger_sound()


def test_a_chunk_expires_each_due_account_once_and_a_second_run_does_nothing(frozen_clock):
    members = world(frozen_clock)
    start, end = all_accounts()
    first = points_expire_chunk(account_id_from=start, account_id_to=end, today=frozen_clock.today)
    assert first.members >= 4
    assert points_expire_chunk(account_id_from=start, account_id_to=end, today=frozen_clock.today) == ChunkResult()
    two_dates = members[0]
    assert account_of(two_dates).balance == 1000
    entries = LedgerEntry.objects.filter(account__member=two_dates, kind=EntryKind.EXPIRE).order_by("version")
    assert [e.points for e in entries] == [-300, -250]
    assert entries[0].reference < entries[1].reference
    assert not Lot.objects.filter(account__member__in=members, remaining__gt=0, expires_on__lte=frozen_clock.today)
    out = StringIO()
    call_command("audit_ledger", stdout=out, stderr=StringIO())
    assert_ledger_sound()


def test_the_nightly_run_covers_every_account_in_small_chunks(frozen_clock, sound_ledger):
    members = world(frozen_clock)
    assert len(expiry_chunks(size=2)) >= 4
    expired = points_expire_due(batch_size=2)
    assert expired >= 80 + 100 + 500 + 550
    assert points_expire_due(batch_size=2) == 0
    assert sum(account_of(m).balance for m in members) == sum(
        a.balance for a in Account.objects.filter(member__in=members))


def test_points_restored_into_an_expired_lot_expire_on_the_next_run(frozen_clock, sound_ledger):
    from loyalty.services import redemption_cancel

    member = new_member()
    give(member, 1500, validity_days=10)
    order = unique("pay")
    spend(member, 1000, order_id=order)
    frozen_clock.advance(11)
    start, end = all_accounts()
    assert points_expire_chunk(account_id_from=start, account_id_to=end, today=frozen_clock.today).points == 500
    from loyalty.models import Redemption

    redemption_cancel(redemption_id=Redemption.objects.get(order_id=order).pk)  # back into the expired lot
    assert points_expire_chunk(account_id_from=start, account_id_to=end, today=frozen_clock.today).points == 1000
    assert account_of(member).balance == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_workers_on_the_same_chunk_expire_it_once(frozen_clock):
    members = [new_member() for _ in range(20)]
    for member in members:
        give(member, 100, validity_days=5)
    frozen_clock.advance(6)
    start, end = all_accounts()
    results = run_together([lambda: points_expire_chunk(account_id_from=start, account_id_to=end,
                                                        today=frozen_clock.today) for _ in range(2)])
    assert errors_of(results) == []
    assert sorted(r.value.members for r in results) == [0, 20]
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRE, version__isnull=False).count() == 20
    assert_ledger_sound()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_workers_on_neighbouring_chunks_share_the_work_with_no_account_twice(frozen_clock):
    members = [new_member() for _ in range(20)]
    for member in members:
        give(member, 100, validity_days=5)
    frozen_clock.advance(6)
    chunks = expiry_chunks(size=7)
    halves = [chunks[0::2], chunks[1::2]]

    def worker(mine: list[tuple[int, int]]) -> int:
        return sum(points_expire_chunk(account_id_from=a, account_id_to=b, today=frozen_clock.today).members
                   for a, b in mine)

    results = run_together([lambda h=half: worker(h) for half in halves])
    assert errors_of(results) == []
    assert sum(r.value for r in results) == 20
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRE, version__isnull=False).count() == 20
    assert_ledger_sound()
