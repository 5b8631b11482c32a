"""A refund gives a campaign back its share of the order's points: to its budget and out of
the points it issued, in the refund's transaction, once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.budget import budget_left
from campaigns.models import CampaignAward, CampaignKind
from campaigns.results import Results, campaign_results, results_measure
from loyalty.ledger import system_account_id
from loyalty.models import NegativeBalancePolicy, ProgramPolicy, SystemAccount
from loyalty.services import purchase_refund
from members.models import Store
from tests.campaigns.conftest import launched
from tests.conftest import buy, new_member, spend, unique
from tests.loyalty.test_query_budget import REFUND_BUDGET

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


def refund(order_id: str, amount: str, refund_id: str | None = None):
    return purchase_refund(order_id=order_id, refund_id=refund_id or unique("refund"), amount=amount)


def measured(campaign) -> Results:
    """The campaign's results as the background measurement finds them now."""
    results_measure(campaign_id=campaign.pk)
    results = campaign_results(campaign)
    assert results is not None
    return results


def campaign_line(outcome) -> int:
    return sum(line["points"] for line in outcome.data["breakdown"] if line["source"] == "campaign")


def test_a_full_refund_gives_the_whole_bonus_back_to_the_budget() -> None:
    campaign = launched(name="구매 보너스", kind=CampaignKind.BONUS, bonus_points=500, budget_points=10_000)
    order = buy(new_member(), "10000")
    assert campaign_line(order) == 500
    assert budget_left(campaign.pk) == 9_500

    outcome = refund(order.data["order_id"], "10000")

    assert outcome.data["points_reversed"] == 600
    assert budget_left(campaign.pk) == 10_000
    results = measured(campaign)
    assert results.points == 0 and (results.points_issued, results.points_returned) == (500, 500)
    assert results.days[-1][1:] == (500, 500)  # issued, and returned by the refund


def test_partial_refunds_give_back_the_proportional_share_and_add_up_to_the_bonus() -> None:
    campaign = launched(name="2배 적립", multiplier=Decimal("2"), budget_points=50_000)
    order = buy(new_member(), "99999")
    assert campaign_line(order) == 999
    order_id = order.data["order_id"]

    left, issued = [], []
    for amount in ("33333", "33333", "33333"):
        refund(order_id, amount)
        left.append(budget_left(campaign.pk))
        issued.append(measured(campaign).points)

    assert left == [50_000 - 999 + 333, 50_000 - 999 + 666, 50_000]
    assert issued == [666, 333, 0]
    assert sorted(CampaignAward.objects.filter(campaign=campaign).values_list("points", flat=True)) == [
        -333, -333, -333, 999]


def test_a_replayed_refund_returns_nothing_twice() -> None:
    campaign = launched(name="보너스 재시도", kind=CampaignKind.BONUS, bonus_points=300, budget_points=1_000)
    order = buy(new_member(), "10000")
    first = refund(order.data["order_id"], "5000", refund_id="CAMP-RF-1")
    again = refund(order.data["order_id"], "5000", refund_id="CAMP-RF-1")

    assert not again.created and again.data == first.data
    assert budget_left(campaign.pk) == 1_000 - 300 + 150
    assert measured(campaign).points == 150


def test_each_campaign_on_the_order_gets_its_own_share_back() -> None:
    double = launched(name="2배", multiplier=Decimal("2"), budget_points=5_000)
    bonus = launched(name="보너스", kind=CampaignKind.BONUS, bonus_points=200)  # no budget: no limit
    order = buy(new_member(), "20000")
    assert campaign_line(order) == 200 + 200

    refund(order.data["order_id"], "5000")

    assert budget_left(double.pk) == 5_000 - 200 + 50
    assert measured(double).points == 150
    assert measured(bonus).points == 150
    assert not bonus.slices.exists()


def test_points_written_off_stay_paid_by_the_campaign(frozen_clock) -> None:
    ProgramPolicy.objects.filter(pk=1).update(negative_balance_policy=NegativeBalancePolicy.WRITE_OFF)
    campaign = launched(name="보너스 소진", kind=CampaignKind.BONUS, bonus_points=500, budget_points=10_000,
                        starts_at=frozen_clock.now() - timedelta(days=30))
    member = new_member()
    order = buy(member, "100000", occurred_at=frozen_clock.days_ago(8))  # 1,000 + 500 P, available
    spend(member, 1000)  # 500 P of the order's 1,500 are left

    outcome = refund(order.data["order_id"], "100000")

    assert outcome.data["points_reversed"] == 500  # 1,000 written off
    # A third of the points came back, so a third of the bonus (floored): 166 of 500.
    assert budget_left(campaign.pk) == 10_000 - 500 + 166
    assert measured(campaign).points == 334


def test_a_refund_without_campaign_lines_costs_no_campaign_query(frozen_clock) -> None:
    for code in SystemAccount:
        system_account_id(code)
    store = Store.objects.create(code=unique("st"), name="성수점")
    launched(name="매장 한정", multiplier=Decimal("2"), budget_points=1_000, stores=[store])
    buy(new_member(), "1000")  # rules, policy and campaigns loaded at the current programme version
    order = buy(new_member(), "10000")  # not at the store: no campaign line
    assert campaign_line(order) == 0

    with CaptureQueriesContext(connection) as captured:
        refund(order.data["order_id"], "5000")

    sql = [query["sql"] for query in captured.captured_queries]
    assert len(sql) <= REFUND_BUDGET, "\n".join(sql)
    assert not [query for query in sql if "campaigns_" in query]
