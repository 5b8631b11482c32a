"""A holdout's results compare every member the campaign targeted, not only those who came back."""

from __future__ import annotations

import statistics
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.results import campaign_results
from campaigns.targeting import held_out, held_out_sql
from loyalty.services import purchase_refund
from members.models import Store
from tests.campaigns.conftest import launched
from tests.conftest import buy, new_member, unique

pytestmark = pytest.mark.django_db


def test_spend_per_member_counts_the_targeted_members_who_never_bought_as_zero() -> None:
    store = Store.objects.create(code=unique("gn"), name="강남점")
    campaign = launched(name="A/B 전체", holdout_percent=Decimal("50"), stores=[store])
    targeted = [new_member(store_code=store.code) for _ in range(30)]
    groups: dict[bool, list] = {True: [], False: []}
    for member in targeted:
        groups[held_out(campaign.pk, member.pk, Decimal("50"))].append(member)
    assert len(groups[True]) >= 4 and len(groups[False]) >= 4
    spend: dict[int, Decimal] = {member.pk: Decimal("0") for member in targeted}
    # In each group, two members buy (one of them refunds part), the others never come back.
    for group in groups.values():
        first, second = group[0], group[1]
        buy(first, "30000", store=store)
        order = buy(second, "10000", store=store).data["order_id"]
        purchase_refund(order_id=order, refund_id=unique("rf"), amount="4000")
        spend[first.pk], spend[second.pk] = Decimal("30000"), Decimal("6000")
    outsider = new_member()  # not targeted (another home store): their spend is no group's
    buy(outsider, "500000")

    results = campaign_results(campaign)

    for control, summary in ((False, results.treatment), (True, results.control)):
        values = [float(spend[member.pk]) for member in groups[control]]
        assert summary is not None
        assert summary.count == len(values)
        assert summary.mean == pytest.approx(statistics.mean(values))
        assert summary.variance == pytest.approx(statistics.variance(values))
    assert results.difference is not None
    assert results.difference.difference == pytest.approx(results.treatment.mean - results.control.mean)
    assert results.spend_from == campaign.starts_at


def test_the_results_read_the_groups_with_the_same_queries_for_more_members() -> None:
    campaign = launched(name="A/B 규모", holdout_percent=Decimal("20"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            campaign_results(campaign)
        return len(captured.captured_queries)

    buy(new_member(), "10000")
    few = queries()
    for _ in range(10):
        new_member()
    buy(new_member(), "10000")
    assert queries() == few


@pytest.mark.parametrize("percent", [Decimal("0.1"), Decimal("12.5"), Decimal("33.3"), Decimal("50")])
def test_the_sql_holdout_draw_is_the_python_draw(percent: Decimal) -> None:
    sql, params = held_out_sql("member_id", 4242, percent)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT member_id FROM generate_series(1, 20000) AS member_id WHERE {sql}", params)
        drawn = {row[0] for row in cursor.fetchall()}
    assert drawn == {member_id for member_id in range(1, 20001) if held_out(4242, member_id, percent)}


def test_the_results_page_says_who_the_groups_are(admin_client) -> None:
    campaign = launched(name="A/B 설명", holdout_percent=Decimal("10"))
    for _ in range(6):
        new_member()
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'id="campaign-groups"' in page
    assert "members who bought nothing count as zero" in page or "구매하지 않은 회원은 0" in page
