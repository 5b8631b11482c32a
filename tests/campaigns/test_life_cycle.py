"""The life cycle: transitions check the state they start from; launching needs the permission;
the beat task only moves statuses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from campaigns.budget import budget_left
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Segment
from campaigns.services import (
    CampaignStateError,
    NotAllowed,
    campaign_cancel,
    campaign_end,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_simulate,
    campaigns_advance,
    segment_count,
)
from campaigns.targeting import segment_members
from loyalty.errors import InvalidRequest
from members.models import Tier
from tests.campaigns.conftest import approver, draft, launched
from tests.campaigns.test_earning import campaign_lines
from tests.conftest import buy, new_member, unique

pytestmark = pytest.mark.django_db


def test_launching_needs_the_launch_permission() -> None:
    campaign = draft()
    nobody = User.objects.create_user(unique("staff"), is_staff=True)
    with pytest.raises(NotAllowed):
        campaign_launch(campaign_id=campaign.pk, actor=nobody)
    assert campaign_launch(campaign_id=campaign.pk, actor=approver()).status == CampaignStatus.RUNNING


def test_a_future_campaign_is_scheduled_and_the_beat_starts_and_ends_it() -> None:
    now = timezone.now()
    campaign = launched(starts_at=now + timedelta(hours=1), ends_at=now + timedelta(days=1))
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaigns_advance() == 0
    Campaign.objects.filter(pk=campaign.pk).update(starts_at=now - timedelta(hours=1))
    campaigns_advance()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=now - timedelta(minutes=1))
    campaigns_advance()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.ENDED


def test_transitions_refuse_the_wrong_starting_state() -> None:
    campaign = launched()
    with pytest.raises(CampaignStateError):
        campaign_resume(campaign_id=campaign.pk)
    campaign_pause(campaign_id=campaign.pk)
    with pytest.raises(CampaignStateError):
        campaign_pause(campaign_id=campaign.pk)
    assert campaign_resume(campaign_id=campaign.pk).status == CampaignStatus.RUNNING
    campaign_end(campaign_id=campaign.pk)
    with pytest.raises(CampaignStateError):
        campaign_cancel(campaign_id=campaign.pk)
    assert buy(new_member(), "10000").data["points"] == 100  # ended early: the window closed


def test_a_launch_is_refused_when_the_campaign_cannot_pay() -> None:
    campaign = draft(kind=CampaignKind.BONUS, bonus_points=0)
    with pytest.raises(InvalidRequest):
        campaign_launch(campaign_id=campaign.pk, actor=approver())


def test_the_budget_is_split_into_slices_that_add_up_to_it() -> None:
    campaign = launched(budget_points=1001)
    assert campaign.slices.count() == 16
    assert budget_left(campaign.pk) == 1001


def test_the_simulation_counts_targets_and_prices_last_months_purchases(frozen_clock) -> None:
    members = [new_member() for _ in range(3)]
    last_month = frozen_clock.today.replace(day=1) - timedelta(days=3)
    for member in members:
        buy(member, "10000", occurred_at=frozen_clock.at(last_month))
    buy(members[0], "20000")  # this month: not counted
    campaign = draft(budget_points=250, point_value=Decimal("1.5"),
                     starts_at=timezone.now() - timedelta(days=1), ends_at=timezone.now() + timedelta(days=5))
    result = campaign_simulate(campaign_id=campaign.pk)
    assert result["targeted"] >= 3 and result["purchases"] == 3
    assert result["points"] == 300 and Decimal(result["cost"]) == 450
    assert result["over_budget"] is True
    assert Campaign.objects.get(pk=campaign.pk).simulation == result


def test_segments_filter_by_tier_birthday_month_and_inactivity(frozen_clock) -> None:
    tier = Tier.objects.create(code="vip", name="VIP", rank=9, threshold=10**9)
    december = new_member(birthday="1990-12-05")
    new_member(birthday="1990-11-05")
    inactive = new_member()
    active = new_member()
    buy(active, "10000")
    Segment.objects.create(name="december", birthday_month=12)
    december_segment = Segment.objects.get(name="december")
    now = frozen_clock.now() + timedelta(minutes=1)  # after the purchase (the windows end at ``now``)
    assert list(segment_members(december_segment, now=now)) == [december]
    sleepy = Segment.objects.create(name="sleepy", inactive_days=30)
    found = set(segment_members(sleepy, now=now))
    assert inactive in found and active not in found
    vip = Segment.objects.create(name="vip")
    vip.tiers.set([tier])
    assert segment_count(segment_id=vip.pk) == 0
    assert Segment.objects.get(pk=vip.pk).counted_at is not None


def test_a_segment_targeted_campaign_pays_only_its_members() -> None:
    segment = Segment.objects.create(name="big spenders", min_spend=Decimal("50000"))
    campaign = launched(name="큰손", segment=segment)
    big, small = new_member(), new_member()
    buy(big, "60000")
    buy(small, "1000")
    assert campaign_lines(buy(big, "10000"))[0]["name"] == campaign.name
    assert campaign_lines(buy(small, "10000")) == []
