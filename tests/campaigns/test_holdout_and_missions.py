"""The holdout control group gets nothing and is recorded; missions pay once on completion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.models import CampaignKind, Exposure, MissionProgress
from campaigns.targeting import held_out, holdout_draw
from tests.campaigns.conftest import launched
from tests.conftest import act, buy, new_member

pytestmark = pytest.mark.django_db


def test_the_holdout_draw_is_stable_and_near_the_share() -> None:
    assert holdout_draw(7, 42) == holdout_draw(7, 42)
    assert holdout_draw(7, 42) != holdout_draw(8, 42)
    share = sum(held_out(1, member_id, Decimal("20")) for member_id in range(10_000)) / 10_000
    assert 0.18 < share < 0.22


def test_a_held_out_member_gets_nothing_and_is_recorded_as_control() -> None:
    campaign = launched(name="A/B", holdout_percent=Decimal("50"))
    members = [new_member() for _ in range(12)]
    outcomes = {m.pk: buy(m, "10000") for m in members}
    for member in members:
        control = held_out(campaign.pk, member.pk, Decimal("50"))
        assert outcomes[member.pk].data["points"] == (100 if control else 200)
        assert Exposure.objects.get(campaign=campaign, member=member).control is control
    assert 0 < Exposure.objects.filter(campaign=campaign, control=True).count() < 12


def test_three_purchases_in_a_month_complete_the_mission_once() -> None:
    campaign = launched(name="3회 구매 미션", kind=CampaignKind.MISSION, mission_event="purchase",
                        mission_target=3, bonus_points=500)
    member = new_member()
    points = [buy(member, "10000").data for _ in range(4)]
    assert [p["points"] for p in points] == [100, 100, 600, 100]
    assert {"source": "campaign", "name": "3회 구매 미션", "points": 500} in points[2]["breakdown"]
    progress = MissionProgress.objects.get(campaign=campaign, member=member)
    assert progress.count == 4 and progress.completed_at is not None


def test_a_review_mission_counts_reviews() -> None:
    launched(name="리뷰 2회", kind=CampaignKind.MISSION, mission_event="review", mission_target=2, bonus_points=50)
    member = new_member()
    assert [act(member, "review").data["points"] for _ in range(3)] == [20, 70, 20]
