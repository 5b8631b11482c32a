"""Tier evaluation: upgrades at once, downgrades only on the evaluation date after the grace
period, to what the window qualifies for, never below a floor set by hand; safe to run twice."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty.models import ProgramPolicy, TaskRun
from loyalty.services.tier_evaluation import is_evaluation_date, tiers_evaluate_chunk
from loyalty.tasks import tiers_evaluate_task
from members.models import Member, Tier, TierChange
from members.services import member_tier_floor_set
from tests.conftest import buy, entry_tier, new_member, run_together
from tests.loyalty.scheduled_work import eager_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(db):
    basic = entry_tier()
    silver = Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100_000)
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=300_000)
    ProgramPolicy.objects.filter(pk=1).update(tier_evaluation_day=1, tier_evaluation_every_months=1)
    return basic, silver, gold


def tier_of(member: Member) -> str:
    return Member.objects.get(pk=member.pk).tier.code


def evaluate(day: date) -> int | None:
    with eager_tasks():
        return tiers_evaluate_task(today=day.isoformat(), size=2)


def test_evaluation_dates_follow_the_policy():
    policy = ProgramPolicy(tier_evaluation_day=1, tier_evaluation_every_months=3)
    assert [is_evaluation_date(date(2026, month, 1), policy) for month in (1, 2, 4, 7, 10, 12)] == [
        True, False, True, True, True, False]
    assert not is_evaluation_date(date(2026, 1, 2), policy)


def test_a_member_who_fell_below_keeps_the_tier_until_the_evaluation_date(tiers, frozen_clock):
    member = new_member()
    buy(member, 300_000)  # 2025-03-10
    assert tier_of(member) == "gold"  # upgrade at once
    frozen_clock.set(date(2026, 3, 15))  # the purchase left the 12-month window
    assert evaluate(frozen_clock.today) is None  # not an evaluation date: no run, no change
    assert tier_of(member) == "gold"
    frozen_clock.set(date(2026, 4, 1))
    run_id = evaluate(frozen_clock.today)
    assert tier_of(member) == "basic"
    change = TierChange.objects.filter(member=member).latest("changed_at")
    assert change.reason == TierChange.Reason.EVALUATION and change.to_tier.code == "basic"
    run = TaskRun.objects.get(pk=run_id)
    assert run.counts["downgraded"] == 1 and run.counts["upgraded"] == 0


def test_the_drop_is_to_the_tier_the_window_still_qualifies_for(tiers, frozen_clock):
    member = new_member()
    buy(member, 300_000)
    frozen_clock.set(date(2025, 12, 1))
    buy(member, 120_000)
    frozen_clock.set(date(2026, 4, 1))
    evaluate(frozen_clock.today)
    assert tier_of(member) == "silver"


def test_the_grace_period_delays_the_drop_and_a_purchase_in_it_keeps_the_tier(tiers, frozen_clock):
    Tier.objects.filter(code="gold").update(grace_days=14)
    staying, leaving = new_member(), new_member()
    buy(staying, 300_000)
    buy(leaving, 300_000)
    frozen_clock.set(date(2026, 4, 1))
    evaluate(frozen_clock.today)
    assert (tier_of(staying), tier_of(leaving)) == ("gold", "gold")  # grace: not yet
    frozen_clock.set(date(2026, 4, 10))
    buy(staying, 300_000)
    frozen_clock.set(date(2026, 4, 15))
    evaluate(frozen_clock.today)
    assert (tier_of(staying), tier_of(leaving)) == ("gold", "basic")


def test_a_tier_set_by_hand_is_a_floor_until_its_end_date(tiers, frozen_clock):
    gold = tiers[2]
    member = new_member()
    member_tier_floor_set(member_id=member.pk, tier_id=gold.pk, until=date(2025, 5, 1), reason="VIP event")
    assert tier_of(member) == "gold"
    frozen_clock.set(date(2025, 4, 1))
    evaluate(frozen_clock.today)
    assert tier_of(member) == "gold"
    frozen_clock.set(date(2025, 5, 1))
    evaluate(frozen_clock.today)
    assert tier_of(member) == "gold"  # the end date is the floor's last day
    frozen_clock.set(date(2025, 6, 1))
    evaluate(frozen_clock.today)
    assert tier_of(member) == "basic"


def test_the_evaluation_raises_anyone_a_purchase_did_not(tiers, frozen_clock):
    member = new_member()
    buy(member, 150_000)
    assert tier_of(member) == "silver"
    Tier.objects.filter(code="gold").update(threshold=150_000)  # the operator lowered Gold
    frozen_clock.set(date(2025, 4, 1))
    evaluate(frozen_clock.today)
    assert tier_of(member) == "gold"
    assert TierChange.objects.filter(member=member, reason=TierChange.Reason.EVALUATION).count() == 1


def test_redeeming_never_demotes(tiers, frozen_clock):
    from tests.conftest import give, spend

    Tier.objects.filter(code="gold").update(basis="points", threshold=3000)
    member = new_member()
    buy(member, 300_000)  # earns 3,000 P: Gold by points at once
    assert tier_of(member) == "gold"
    give(member, 5000)
    spend(member, 5000)  # the balance falls; the points earned in the window do not
    frozen_clock.set(date(2025, 4, 1))
    evaluate(frozen_clock.today)
    assert tier_of(member) == "gold"


def test_evaluating_twice_changes_nothing_the_second_time(tiers, frozen_clock):
    members = [new_member() for _ in range(3)]
    for member in members:
        buy(member, 300_000)
    frozen_clock.set(date(2026, 4, 1))
    first = evaluate(frozen_clock.today)
    assert evaluate(frozen_clock.today) == first  # the day's run, found again
    policy = ProgramPolicy.objects.get(pk=1)
    again = tiers_evaluate_chunk(member_id_from=0, member_id_to=10**12, today=frozen_clock.today,
                                 tiers=list(tiers), policy=policy)  # the work itself, redone
    assert (again.upgraded, again.downgraded) == (0, 0)
    assert TierChange.objects.filter(reason=TierChange.Reason.EVALUATION).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_change_each_member_once(tiers, frozen_clock):
    members = [new_member() for _ in range(4)]
    for member in members:
        buy(member, 300_000)
    frozen_clock.set(date(2026, 4, 1))
    policy = ProgramPolicy.objects.get(pk=1)
    tier_list = list(Tier.objects.all())

    def evaluation():
        return tiers_evaluate_chunk(member_id_from=0, member_id_to=10**12, today=frozen_clock.today,
                                    tiers=tier_list, policy=policy)

    results = run_together([evaluation, evaluation])
    assert [result.error for result in results] == [None, None]
    assert sum(result.value.downgraded for result in results) == 4
    assert TierChange.objects.filter(reason=TierChange.Reason.EVALUATION).count() == 4
    assert {tier_of(member) for member in members} == {"basic"}
