"""The hook the birthday service calls: a campaign may boost birthday points (double in December)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.models import CampaignAward
from loyalty.boosts import BIRTHDAY, BoostContext, fixed_points_boosted
from loyalty.models import ProgrammeVersion
from loyalty.rules import RuleSpec
from tests.campaigns.conftest import launched
from tests.conftest import new_member

pytestmark = pytest.mark.django_db

BIRTHDAY_RULE = RuleSpec(id=1, name="생일 축하 (연 1회)", kind="birthday", points=100)


def birthday_context(member, key: str) -> BoostContext:
    return BoostContext(member_id=member.pk, tier_id=member.tier_id, channel=member.channel, store_code="",
                        occurred_at=timezone.now(), earned_on=date.today(), operation_key=key,
                        programme_version=ProgrammeVersion.objects.get(pk=1).version, event=BIRTHDAY)


def test_a_birthday_campaign_doubles_the_birthday_points_with_its_line() -> None:
    campaign = launched(name="12월 생일 2배", activity_types=["birthday"])
    member = new_member()
    with transaction.atomic():
        earning = fixed_points_boosted(birthday_context(member, "birthday:2025:1"), BIRTHDAY_RULE, None)
    assert earning.points == 200
    assert [(line.source, line.name, line.points) for line in earning.lines] == [
        ("rule", "생일 축하 (연 1회)", 100), ("campaign", "12월 생일 2배", 100)]
    assert CampaignAward.objects.get(campaign=campaign).operation_key == "birthday:2025:1"


def test_without_a_birthday_campaign_the_rule_alone_pays() -> None:
    launched(name="구매만 2배")  # boosts purchases, not birthdays
    member = new_member()
    with transaction.atomic():
        earning = fixed_points_boosted(birthday_context(member, "birthday:2025:2"), BIRTHDAY_RULE, None)
    assert earning.points == 100


def test_the_birthday_run_pays_a_birthday_campaigns_boost_once_and_caps_count_the_rule_alone(
        frozen_clock, sound_ledger) -> None:
    from loyalty.models import LedgerEntry, Operation, RuleEarning
    from loyalty.services.birthdays import birthdays_pay
    from loyalty.services.grants import ChunkResult
    from members.models import Member

    campaign = launched(name="생일 2배", activity_types=["birthday"])
    member = new_member(birthday=date(1990, 3, 10))  # the frozen clock's today is 2025-03-10
    Member.objects.filter(pk=member.pk).update(joined_at=frozen_clock.days_ago(400))

    assert birthdays_pay(today=frozen_clock.today) == ChunkResult(members=1, points=200)
    assert birthdays_pay(today=frozen_clock.today) == ChunkResult(replayed=1)  # paid once, awarded once
    operation = Operation.objects.get(key=f"birthday:{member.pk}:2025")
    assert operation.result["breakdown"] == [
        {"source": "rule", "name": "생일 축하 (연 1회)", "points": 100},
        {"source": "campaign", "name": "생일 2배", "points": 100},
    ]
    assert LedgerEntry.objects.get(account__member=member).points == 200
    assert CampaignAward.objects.filter(campaign=campaign).count() == 1
    assert RuleEarning.objects.get(operation=operation).points == 100  # the rule's caps count its own points
