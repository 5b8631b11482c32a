"""Campaigns boost earning through loyalty's interface, at the purchase itself."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignAward, CampaignKind, CampaignStatus
from campaigns.services import campaign_pause
from tests.campaigns.conftest import draft, launched
from tests.conftest import act, buy, new_member

pytestmark = pytest.mark.django_db


def campaign_lines(outcome) -> list[dict]:
    return [line for line in outcome.data["breakdown"] if line["source"] == "campaign"]


def test_a_running_multiplier_doubles_the_purchase_points_with_its_name_in_the_breakdown() -> None:
    campaign = launched(name="크리스마스 2배", multiplier=Decimal("2"))
    outcome = buy(new_member(), "10000")
    assert outcome.data["points"] == 200
    assert campaign_lines(outcome) == [{"source": "campaign", "name": "크리스마스 2배", "points": 100}]
    assert CampaignAward.objects.get(campaign=campaign).points == 100


def test_a_draft_or_paused_campaign_pays_nothing() -> None:
    draft(name="초안")
    paused = launched(name="중지")
    campaign_pause(campaign_id=paused.pk)
    assert buy(new_member(), "10000").data["points"] == 100


def test_the_window_is_checked_at_the_purchase_whatever_the_status_says() -> None:
    """A late scheduler changes nothing: 'scheduled' pays once the window has opened,
    'running' stops paying when it has closed."""
    campaign = launched(name="곧 시작")
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SCHEDULED)
    assert buy(new_member(), "10000").data["points"] == 200
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING,
                                                   ends_at=timezone.now() - timedelta(minutes=1),
                                                   starts_at=timezone.now() - timedelta(days=2))
    assert buy(new_member(), "10000").data["points"] == 100


def test_a_product_bonus_pays_per_matching_item_and_is_never_multiplied() -> None:
    launched(name="두배", multiplier=Decimal("2"))
    launched(name="신상품 보너스", kind=CampaignKind.BONUS, bonus_points=30, skus=["NEW-1"])
    outcome = buy(new_member(), "10000", items=[{"sku": "NEW-1", "amount": "5000", "quantity": 2},
                                                  {"sku": "OLD", "amount": "5000"}])
    assert campaign_lines(outcome) == [
        {"source": "campaign", "name": "두배", "points": 100},
        {"source": "campaign", "name": "신상품 보너스", "points": 60},
    ]
    assert outcome.data["points"] == 260


def test_a_minimum_spend_bonus_pays_only_orders_that_reach_it() -> None:
    launched(name="5만원 이상", kind=CampaignKind.BONUS, bonus_points=500, min_amount=Decimal("50000"))
    member = new_member()
    assert buy(member, "49999").data["points"] == 499
    assert buy(member, "50000").data["points"] == 1000


def test_targeting_by_channel_and_store() -> None:
    launched(name="온라인 전용", channels=["online"])
    assert buy(new_member(), "10000", channel="offline").data["points"] == 100
    assert buy(new_member(), "10000", channel="online").data["points"] == 200


def test_the_per_member_cap_cuts_the_bonus_to_what_is_left() -> None:
    campaign = launched(name="상한", member_cap=150)
    member = new_member()
    assert campaign_lines(buy(member, "10000"))[0]["points"] == 100
    assert campaign_lines(buy(member, "10000"))[0]["points"] == 50
    assert campaign_lines(buy(member, "10000")) == []
    assert sum(CampaignAward.objects.filter(campaign=campaign).values_list("points", flat=True)) == 150


def test_the_budget_cuts_the_last_bonus_and_then_stops() -> None:
    campaign = launched(name="예산", budget_points=250)
    paid = [sum(line["points"] for line in campaign_lines(buy(new_member(), "10000"))) for _ in range(4)]
    assert paid == [100, 100, 50, 0]
    assert sum(CampaignAward.objects.filter(campaign=campaign).values_list("points", flat=True)) == 250


def test_a_campaign_may_boost_an_activity() -> None:
    launched(name="리뷰 2배", activity_types=["review"])
    outcome = act(new_member(), "review")
    assert outcome.data["points"] == 40
    assert outcome.data["breakdown"][-1] == {"source": "campaign", "name": "리뷰 2배", "points": 20}


def test_a_replayed_purchase_awards_nothing_more() -> None:
    campaign = launched(name="재요청", budget_points=1000)
    member = new_member()
    buy(member, "10000", order_id="same-order")
    assert buy(member, "10000", order_id="same-order").created is False
    assert CampaignAward.objects.filter(campaign=campaign).count() == 1
