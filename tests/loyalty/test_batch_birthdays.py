"""Birthday points: the seeded birthday rule pays once a year, by the rules of DESIGN.md."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from loyalty.models import EarningRule, EntrySource, LedgerEntry, Lot, Operation, OperationKind, RuleEarning, RuleKind
from loyalty.services.birthdays import birthday_chunks, birthdays_pay, birthdays_pay_chunk
from loyalty.services.grants import ChunkResult
from members.models import Member, MemberStatus
from tests.conftest import account_of, assert_ledger_sound, errors_of, new_member, run_together

pytestmark = pytest.mark.django_db


def born(birthday: date | None, frozen_clock: Any, *, joined_days_ago: int = 400, **fields: Any) -> Member:
    """A member with this birthday who joined long ago (a birthday entered at sign-up settles too)."""
    member = new_member(birthday=birthday, **fields)
    Member.objects.filter(pk=member.pk).update(joined_at=frozen_clock.days_ago(joined_days_ago))
    return member


def pay(frozen_clock: Any) -> ChunkResult:
    return birthdays_pay(today=frozen_clock.today)


def test_a_member_whose_birthday_is_today_gets_the_rules_points_once_this_year(frozen_clock, sound_ledger):
    member = born(date(1990, 3, 10), frozen_clock)  # the frozen clock's today is 2025-03-10
    not_today = born(date(1990, 3, 11), frozen_clock)
    no_birthday = born(None, frozen_clock)
    assert pay(frozen_clock) == ChunkResult(members=1, points=100)
    assert pay(frozen_clock) == ChunkResult(replayed=1)
    assert account_of(member).balance == 100
    assert account_of(not_today).balance == account_of(no_birthday).balance == 0
    (lot,) = Lot.objects.filter(account__member=member)
    assert (lot.source, lot.available_on, lot.expires_on) == (
        EntrySource.BIRTHDAY, frozen_clock.today, frozen_clock.today + timedelta(days=365))
    entry = LedgerEntry.objects.get(account__member=member)
    assert (entry.kind, entry.description) == ("earn", "생일 축하 포인트")  # the programme speaks Korean
    assert Operation.objects.get(key=f"birthday:{member.pk}:2025").kind == OperationKind.BIRTHDAY


def test_the_birthday_pays_again_the_next_year(frozen_clock, sound_ledger):
    member = born(date(1990, 3, 10), frozen_clock)
    pay(frozen_clock)
    frozen_clock.set(date(2026, 3, 10))
    assert pay(frozen_clock).members == 1
    assert account_of(member).balance == 200


def test_only_active_members_are_paid(frozen_clock, sound_ledger):
    members = {status: born(date(1990, 3, 10), frozen_clock) for status in MemberStatus.values}
    for status, member in members.items():
        Member.objects.filter(pk=member.pk).update(status=status)
    assert pay(frozen_clock).members == 1
    assert [s for s, m in members.items() if account_of(m).balance] == [MemberStatus.ACTIVE]


def test_a_birthday_changed_within_the_last_30_days_pays_next_year(frozen_clock, sound_ledger):
    changed_29_days_ago = born(date(1990, 3, 10), frozen_clock)
    changed_30_days_ago = born(date(1990, 3, 10), frozen_clock)
    Member.objects.filter(pk=changed_29_days_ago.pk).update(birthday_changed_at=frozen_clock.days_ago(29))
    Member.objects.filter(pk=changed_30_days_ago.pk).update(birthday_changed_at=frozen_clock.days_ago(30))
    assert pay(frozen_clock).members == 1
    assert account_of(changed_29_days_ago).balance == 0
    assert account_of(changed_30_days_ago).balance == 100
    frozen_clock.set(date(2026, 3, 10))
    pay(frozen_clock)
    assert account_of(changed_29_days_ago).balance == 100


def test_a_birthday_entered_at_sign_up_within_the_last_30_days_pays_next_year(frozen_clock, sound_ledger):
    new = born(date(1990, 3, 10), frozen_clock, joined_days_ago=0)
    assert pay(frozen_clock) == ChunkResult()
    assert account_of(new).balance == 0


def test_a_birthday_changed_through_the_member_service_is_noticed(frozen_clock, sound_ledger):
    from members.services import member_upsert

    member = born(date(1990, 1, 1), frozen_clock)
    member_upsert(external_id=member.external_id, name=member.name, birthday=date(1990, 3, 10))
    assert pay(frozen_clock) == ChunkResult()


@pytest.mark.parametrize(("today", "paid"), [
    (date(2025, 2, 28), True),  # no February 29 this year: paid on the 28th
    (date(2025, 3, 1), False),
    (date(2024, 2, 28), False),  # a leap year: paid on the 29th
    (date(2024, 2, 29), True),
])
def test_a_february_29_birthday_is_paid_on_february_28_in_other_years(frozen_clock, today, paid):
    frozen_clock.set(today)
    leapling = born(date(1992, 2, 29), frozen_clock)
    born_28th = born(date(1992, 2, 28), frozen_clock)
    pay(frozen_clock)
    assert account_of(leapling).balance == (100 if paid else 0)
    assert account_of(born_28th).balance == (100 if today.day == 28 else 0)
    assert_ledger_sound()


def test_the_rules_pending_days_validity_and_points_are_honoured(frozen_clock, sound_ledger):
    EarningRule.objects.filter(kind=RuleKind.BIRTHDAY).update(points=300, pending_days=3, validity_days=60)
    member = born(date(1990, 3, 10), frozen_clock)
    pay(frozen_clock)
    (lot,) = Lot.objects.filter(account__member=member)
    assert (lot.points, lot.available_on, lot.expires_on) == (
        300, frozen_clock.today + timedelta(days=3), frozen_clock.today + timedelta(days=60))
    assert Operation.objects.get(key=f"birthday:{member.pk}:2025").result["balance"] == {
        "available": 0, "pending": 300}


def test_the_rules_cap_limits_what_is_paid_and_is_counted(frozen_clock, sound_ledger):
    EarningRule.objects.filter(kind=RuleKind.BIRTHDAY).update(daily_cap=40)
    member = born(date(1990, 3, 10), frozen_clock)
    pay(frozen_clock)
    assert account_of(member).balance == 40
    assert list(RuleEarning.objects.filter(account__member=member).values_list("points", "earned_on")) == [
        (40, frozen_clock.today)]


def test_nothing_is_paid_without_an_active_birthday_rule(frozen_clock, sound_ledger):
    EarningRule.objects.filter(kind=RuleKind.BIRTHDAY).update(is_active=False)
    born(date(1990, 3, 10), frozen_clock)
    assert pay(frozen_clock) == ChunkResult()


def test_chunks_split_the_members_with_none_paid_twice(frozen_clock, sound_ledger):
    members = [born(date(1990, 3, 10), frozen_clock) for _ in range(7)]
    chunks = birthday_chunks(size=2)
    assert len(chunks) >= 4
    total = ChunkResult()
    for start, end in chunks:
        total += birthdays_pay_chunk(member_id_from=start, member_id_to=end, today=frozen_clock.today)
    assert total.members == 7
    assert all(account_of(m).balance == 100 for m in members)


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_workers_running_the_same_birthday_chunk_pay_once(frozen_clock):
    members = [new_member(birthday=date(1990, 3, 10)) for _ in range(10)]
    Member.objects.filter(pk__in=[m.pk for m in members]).update(joined_at=timezone.now() - timedelta(days=400))
    (start, end), = birthday_chunks(size=10**9)
    results = run_together([lambda: birthdays_pay_chunk(member_id_from=start, member_id_to=end,
                                                        today=frozen_clock.today) for _ in range(2)])
    assert errors_of(results) == []
    assert sorted((r.value.members, r.value.replayed) for r in results) == [(0, 10), (10, 0)]
    assert all(account_of(m).balance == 100 for m in members)
    assert_ledger_sound()
