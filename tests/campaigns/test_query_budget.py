"""The campaign provider is cheap: nothing running costs a purchase no query at all."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import CampaignKind
from loyalty.ledger import system_account_id
from loyalty.models import SystemAccount
from tests.campaigns.conftest import draft, launched
from tests.conftest import buy, new_member

pytestmark = pytest.mark.django_db

PURCHASE_BUDGET = 4  # tests/loyalty/test_query_budget.py: savepoint, lock, writes, release
# one running multiplier with a budget and a per-member cap: the member's awards so far (cap),
# one statement reserving from a slice, the award's insert
ONE_CAMPAIGN_EXTRA = 3


def purchase_queries(member) -> list[str]:
    buy(member, "1000")  # warm: rules, policy, campaigns loaded at this programme version
    with CaptureQueriesContext(connection) as queries:
        buy(member, "10000")
    return [q["sql"] for q in queries.captured_queries]


@pytest.fixture(autouse=True)
def _warm(db):
    for code in SystemAccount:
        system_account_id(code)


def test_no_running_campaign_adds_no_query() -> None:
    draft(name="초안은 돌지 않는다")
    sql = purchase_queries(new_member())
    assert len(sql) <= PURCHASE_BUDGET, "\n".join(sql)


def test_one_running_campaign_adds_three_queries() -> None:
    launched(name="2배", kind=CampaignKind.MULTIPLIER, budget_points=100_000, member_cap=10_000)
    sql = purchase_queries(new_member())
    assert len(sql) <= PURCHASE_BUDGET + ONE_CAMPAIGN_EXTRA, "\n".join(sql)
    assert not any('FROM "campaigns_campaign"' in q for q in sql), "the campaigns come from the cache"
