"""A grant campaign credits each targeted member once per run, within its budget, in chunks
that can run twice or at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns import grants
from campaigns.grants import campaign_grant_chunk, campaign_grant_plan, grant_prefix, grants_due
from campaigns.models import CampaignAward, CampaignKind, Exposure, Segment
from campaigns.targeting import held_out
from loyalty.models import LedgerEntry
from tests.campaigns.conftest import launched
from tests.conftest import account_of, assert_ledger_sound, errors_of, new_member, run_together

pytestmark = pytest.mark.django_db


def grant_campaign(**fields):
    segment = Segment.objects.create(name=f"december {fields.get('name', '')}", birthday_month=12)
    return launched(kind=CampaignKind.GRANT, bonus_points=300, segment=segment, **fields)


def run_all(campaign) -> int:
    plan = campaign_grant_plan(campaign_id=campaign.pk)
    return sum(campaign_grant_chunk(campaign_id=campaign.pk, run=plan.run, id_from=a, id_to=b)
               for a, b in plan.ranges)


def test_a_grant_credits_the_segment_once_even_when_run_twice(monkeypatch) -> None:
    monkeypatch.setattr(grants, "GRANT_CHUNK", 2)
    december = [new_member(birthday="1990-12-01") for _ in range(5)]
    others = [new_member(birthday="1990-06-01") for _ in range(2)]
    campaign = grant_campaign(name="연말 감사")
    assert grants_due() == [campaign.pk]
    assert run_all(campaign) == 5
    assert grants_due() == []
    assert run_all(campaign) == 0  # the replay credits nobody again
    assert [account_of(m).balance for m in december] == [300] * 5
    assert [account_of(m).balance for m in others] == [0, 0]
    assert CampaignAward.objects.filter(campaign=campaign).count() == 5
    entries = LedgerEntry.objects.filter(reference=grant_prefix(campaign.pk, 1), account__member__isnull=False)
    assert entries.count() == 5
    assert_ledger_sound()


def test_a_grant_stops_at_its_budget_and_skips_the_holdout() -> None:
    members = [new_member(birthday="1990-12-01") for _ in range(10)]
    campaign = grant_campaign(name="예산 한도", budget_points=900, holdout_percent=Decimal("30"))
    run_all(campaign)
    treated = [m for m in members if not held_out(campaign.pk, m.pk, Decimal("30"))]
    paid = [m for m in members if account_of(m).balance == 300]
    assert len(paid) == min(len(treated), 3)
    assert all(m in treated for m in paid)
    assert Exposure.objects.filter(campaign=campaign).count() == 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_workers_on_the_same_chunk_credit_each_member_once() -> None:
    members = [new_member(birthday="1990-12-01") for _ in range(6)]
    campaign = grant_campaign(name="동시 실행", budget_points=100_000)
    plan = campaign_grant_plan(campaign_id=campaign.pk)
    (id_from, id_to), = plan.ranges
    results = run_together([lambda: campaign_grant_chunk(campaign_id=campaign.pk, run=plan.run,
                                                         id_from=id_from, id_to=id_to)] * 2)
    assert errors_of(results) == []
    assert sum(r.value for r in results) == 6
    assert [account_of(m).balance for m in members] == [300] * 6
    assert campaign.slices.model.objects.filter(campaign=campaign).count() > 0
    assert sum(campaign.slices.model.objects.filter(campaign=campaign).values_list("remaining", flat=True)) \
        == 100_000 - 6 * 300
    assert_ledger_sound()
