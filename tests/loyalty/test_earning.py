"""Earning on purchases and activities; referral rewards; tier upgrades."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty.errors import InvalidRequest
from loyalty.models import Activity, EarningRule, EntryKind, LedgerEntry, Lot, Purchase, RuleKind, SystemAccount
from loyalty.selectors import balance_summary
from loyalty.services import purchase_record
from members.models import Member, MemberStatus, Tier, TierBasis, TierChange
from tests.conftest import account_of, act, buy, entry_tier, lots_of, new_member, reload, spend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


def test_a_purchase_earns_one_point_per_100_won_rounded_down(frozen_clock):
    member = new_member()
    outcome = buy(member, "12399", order_id="A-1")
    assert outcome.created
    assert outcome.data["points"] == 123
    purchase = Purchase.objects.get(order_id="A-1")
    assert purchase.points == 123
    assert account_of(member).balance == 123


def test_purchase_points_are_pending_for_seven_days_and_valid_for_a_year(frozen_clock):
    member = new_member()
    today = frozen_clock.today
    outcome = buy(member, "50000")
    assert outcome.data["status"] == "pending"
    assert outcome.data["available_on"] == (today + timedelta(days=7)).isoformat()
    assert outcome.data["expires_on"] == (today + timedelta(days=365)).isoformat()
    (lot,) = lots_of(member)
    assert (lot.points, lot.remaining, lot.available_on, lot.expires_on) == (
        500, 500, today + timedelta(days=7), today + timedelta(days=365)
    )
    assert balance_summary(account_of(member), today).as_dict() == {"available": 0, "pending": 500}


def test_a_purchase_reported_after_its_return_window_is_available_at_once(frozen_clock):
    member = new_member()
    outcome = buy(member, "50000", occurred_at=frozen_clock.days_ago(10))
    assert outcome.data["status"] == "available"
    assert balance_summary(account_of(member), frozen_clock.today).as_dict() == {"available": 500, "pending": 0}


def test_a_purchase_too_small_to_earn_is_still_recorded_without_a_lot(frozen_clock):
    member = new_member()
    outcome = buy(member, "99", order_id="tiny")
    assert outcome.data["points"] == 0
    assert Purchase.objects.get(order_id="tiny").lot is None
    assert lots_of(member) == []
    assert account_of(member).version == 0


@pytest.mark.parametrize("amount", ["0", "-100", "abc", "NaN", "Infinity"])
def test_a_purchase_amount_must_be_a_positive_number(amount):
    member = new_member()
    with pytest.raises(InvalidRequest):
        buy(member, amount)
    assert not Purchase.objects.exists()


def test_every_earning_is_balanced_by_the_issued_account(frozen_clock):
    member = new_member()
    buy(member, "10000", order_id="B-1")
    entries = list(LedgerEntry.objects.filter(order_id="B-1").select_related("account"))
    assert sorted((e.account.system_code or "", e.points) for e in entries) == [
        ("", 100), (SystemAccount.ISSUED.value, -100)
    ]
    member_entry = next(e for e in entries if e.account.member_id)
    assert (member_entry.kind, member_entry.version, member_entry.balance_after) == (EntryKind.EARN, 1, 100)


def test_a_review_earns_its_fixed_points_available_at_once(frozen_clock):
    member = new_member()
    outcome = act(member, "review", reference="review-9")
    assert outcome.created and outcome.data["points"] == 20
    assert balance_summary(account_of(member), frozen_clock.today).available == 20


def test_an_activity_beyond_its_daily_cap_is_recorded_with_no_points(frozen_clock):
    member = new_member()
    assert act(member, "visit", reference="visit-1").data["points"] == 5
    second = act(member, "visit", reference="visit-2")
    assert second.data["points"] == 0 and second.data["reason"]
    assert Activity.objects.get(reference="visit-2").points == 0
    frozen_clock.advance(1)
    assert act(member, "visit", reference="visit-3").data["points"] == 5
    assert account_of(member).balance == 10


def test_an_unknown_activity_type_is_refused():
    member = new_member()
    with pytest.raises(InvalidRequest):
        act(member, "dance")
    assert not Activity.objects.exists()


@pytest.mark.parametrize("status", [MemberStatus.WITHDRAWN, MemberStatus.SUSPENDED, MemberStatus.MERGED])
def test_a_member_who_is_not_active_earns_nothing(status):
    member = new_member()
    Member.objects.filter(pk=member.pk).update(status=status)
    with pytest.raises(InvalidRequest):
        buy(reload(member), "10000")
    with pytest.raises(InvalidRequest):
        act(reload(member), "review")
    assert account_of(member).version == 0


# Referral --------------------------------------------------------------------------------


def test_both_sides_earn_50_points_when_the_referee_first_buys(frozen_clock):
    referrer = new_member()
    referee = new_member(referrer_code=referrer.referral_code)
    buy(referee, "10000")
    assert account_of(referrer).balance == 50
    assert account_of(referee).balance == 100 + 50
    referral_lots = Lot.objects.filter(source="referral")
    assert sorted(lot.account.member_id for lot in referral_lots) == sorted([referrer.pk, referee.pk])
    assert all(lot.available_on == frozen_clock.today for lot in referral_lots)


def test_the_referral_reward_is_paid_on_the_first_purchase_only(frozen_clock):
    referrer = new_member()
    referee = new_member(referrer_code=referrer.referral_code)
    buy(referee, "10000")
    buy(referee, "10000")
    frozen_clock.advance(40)
    buy(referee, "10000")
    assert account_of(referrer).balance == 50
    assert account_of(referee).balance == 300 + 50


def test_a_referrer_who_buys_earns_no_referral_reward(frozen_clock):
    referrer = new_member()
    new_member(referrer_code=referrer.referral_code)
    buy(referrer, "10000")
    assert account_of(referrer).balance == 100


def test_no_referral_reward_goes_to_a_withdrawn_referrer(frozen_clock):
    referrer = new_member()
    referee = new_member(referrer_code=referrer.referral_code)
    Member.objects.filter(pk=referrer.pk).update(status=MemberStatus.WITHDRAWN)
    buy(referee, "10000")
    assert account_of(referrer).balance == 0
    assert account_of(referee).balance == 100


# Tiers -----------------------------------------------------------------------------------


@pytest.fixture
def tiers():
    return {
        "basic": entry_tier(threshold=Decimal("0")),
        "silver": Tier.objects.create(code="silver", name="Silver", rank=1, threshold=Decimal("100000"),
                                      earn_multiplier=Decimal("1.5")),
        "gold": Tier.objects.create(code="gold", name="Gold", rank=2, threshold=Decimal("300000"),
                                    earn_multiplier=Decimal("2")),
    }


def test_a_member_moves_up_a_tier_the_moment_spend_crosses_the_threshold(frozen_clock, tiers):
    member = new_member()
    assert member.tier == tiers["basic"]
    buy(member, "99999")
    assert reload(member).tier == tiers["basic"]
    buy(reload(member), "1")
    assert reload(member).tier == tiers["silver"]
    change = TierChange.objects.filter(member=member, reason=TierChange.Reason.QUALIFIED).get()
    assert (change.from_tier, change.to_tier) == (tiers["basic"], tiers["silver"])


def test_one_large_order_can_skip_a_tier(frozen_clock, tiers):
    member = new_member()
    buy(member, "350000")
    assert reload(member).tier == tiers["gold"]


def test_the_tier_multiplier_applies_to_purchases_after_the_upgrade(frozen_clock, tiers):
    member = new_member()
    buy(member, "100000")
    outcome = buy(reload(member), "10001")
    assert outcome.data["points"] == 100 + 50
    assert [line["source"] for line in outcome.data["breakdown"]] == ["rule", "tier"]


def test_spend_outside_the_window_does_not_count_towards_a_tier(frozen_clock, tiers):
    member = new_member()
    buy(member, "60000", occurred_at=frozen_clock.days_ago(400))
    buy(reload(member), "60000")
    assert reload(member).tier == tiers["basic"]


def test_redeeming_points_never_demotes_a_member(frozen_clock, tiers):
    member = new_member()
    buy(member, "300000", occurred_at=frozen_clock.days_ago(8))
    member = reload(member)
    assert member.tier == tiers["gold"]
    spend(member, 3000)
    assert reload(member).tier == tiers["gold"]


def test_a_points_tier_counts_points_earned_not_the_balance(frozen_clock):
    entry_tier()
    vip = Tier.objects.create(code="vip", name="VIP", rank=1, basis=TierBasis.POINTS, threshold=Decimal("1000"))
    member = new_member()
    buy(member, "100000", occurred_at=frozen_clock.days_ago(8))
    spend(reload(member), 1000)
    act(reload(member), "review")
    assert account_of(member).balance == 20
    assert reload(member).tier == vip


def test_a_member_moves_up_a_points_tier_with_the_earning_that_crosses_the_threshold(frozen_clock):
    entry_tier()
    vip = Tier.objects.create(code="vip", name="VIP", rank=1, basis=TierBasis.POINTS, threshold=Decimal("1000"))
    member = new_member()
    buy(member, "100000")
    assert reload(member).tier == vip


def test_an_order_id_is_required():
    member = new_member()
    with pytest.raises(InvalidRequest):
        purchase_record(member=member, order_id="", amount="1000")
    assert not Purchase.objects.exists()


# Configured rules ------------------------------------------------------------------------


def test_a_monthly_cap_pays_once_a_month(frozen_clock):
    member = new_member()
    frozen_clock.set(frozen_clock.today.replace(day=1))
    assert act(member, "app_install").data["points"] == 100
    frozen_clock.advance(27)
    assert act(member, "app_install").data["points"] == 0
    frozen_clock.set(frozen_clock.today.replace(day=1) + timedelta(days=31))
    assert act(member, "app_install").data["points"] == 100


def test_a_daily_cap_on_purchase_points_counts_every_order_of_the_day(frozen_clock):
    EarningRule.objects.filter(kind=RuleKind.PURCHASE_RATE).update(daily_cap=1500)
    member = new_member()
    assert buy(member, "100000").data["points"] == 1000
    assert buy(member, "100000").data["points"] == 500
    assert buy(member, "100000").data["points"] == 0
    frozen_clock.advance(1)
    assert buy(member, "100000").data["points"] == 1000


def test_a_product_bonus_rule_pays_for_matching_items(frozen_clock):
    EarningRule.objects.create(name="차 보너스", kind=RuleKind.PRODUCT_BONUS, points=100, categories=["tea"],
                               validity_days=365, priority=20)
    member = new_member()
    outcome = buy(member, "30000", items=[{"sku": "T1", "category": "tea", "amount": "20000", "quantity": 2},
                                          {"sku": "C1", "category": "cup", "amount": "10000"}])
    assert outcome.data["points"] == 300 + 200
    assert [line["name"] for line in outcome.data["breakdown"]] == ["구매 적립 (100원당 1P)", "차 보너스"]


def test_a_rule_applies_only_between_its_dates(frozen_clock):
    today = frozen_clock.today
    EarningRule.objects.create(name="봄 이벤트", kind=RuleKind.PURCHASE_RATE, rate_points=1,
                               rate_amount=Decimal("100"), starts_on=today + timedelta(days=1),
                               ends_on=today + timedelta(days=2), priority=20)
    member = new_member()
    assert buy(member, "10000").data["points"] == 100
    frozen_clock.advance(1)
    assert buy(member, "10000").data["points"] == 200
    frozen_clock.advance(2)
    assert buy(member, "10000").data["points"] == 100


def test_an_offline_rule_pays_only_at_the_stores(frozen_clock):
    EarningRule.objects.create(name="매장 추가 적립", kind=RuleKind.PURCHASE_RATE, rate_points=1,
                               rate_amount=Decimal("1000"), channel="offline", priority=20)
    member = new_member(channel="online")
    assert buy(member, "10000").data["points"] == 100
    assert buy(member, "10000", channel="offline").data["points"] == 110


def test_a_purchase_dated_in_the_future_is_refused_and_changes_nothing(frozen_clock):
    from datetime import timedelta

    from loyalty.errors import InvalidRequest
    from loyalty.models import Purchase
    from loyalty.services import purchase_record

    member = new_member()
    with pytest.raises(InvalidRequest):
        purchase_record(member=member, order_id="FUT-1", amount="10000",
                        occurred_at=frozen_clock.now() + timedelta(days=1))
    assert not Purchase.objects.filter(order_id="FUT-1").exists()
