"""A holdout's results compare every member the campaign targeted, not only those who came back."""

from __future__ import annotations

import statistics
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import CampaignStatus, ResultsReading
from campaigns.results import campaign_results, results_due, results_measure
from campaigns.targeting import held_out, held_out_sql
from loyalty.models import OutboxMessage
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

    results_measure(campaign_id=campaign.pk)
    results = campaign_results(campaign)
    assert results is not None

    for control, summary in ((False, results.treatment), (True, results.control)):
        values = [float(spend[member.pk]) for member in groups[control]]
        assert summary is not None
        assert summary.count == len(values)
        assert summary.mean == pytest.approx(statistics.mean(values))
        assert summary.variance == pytest.approx(statistics.variance(values))
    assert results.difference is not None
    assert results.difference.difference == pytest.approx(results.treatment.mean - results.control.mean)
    assert results.spend_from == campaign.starts_at
    assert results.measured_at is not None and results.window_until is not None


def test_the_groups_are_who_the_segment_held_at_the_start_not_who_it_holds_after_the_campaign() -> None:
    """A win-back segment (no purchase in 30 days): members the campaign brought back stay in
    their group; a member who bought in the 30 days before the start was never targeted."""
    from django.utils import timezone

    from campaigns.models import Segment

    segment = Segment.objects.create(name=unique("휴면 고객"), inactive_days=30)
    campaign = launched(name="A/B 휴면", holdout_percent=Decimal("50"), segment=segment)
    sleepers = [new_member() for _ in range(16)]
    recent = new_member()
    buy(recent, "70000", occurred_at=timezone.now() - timedelta(days=11))  # 10 days before the start
    came_back = sleepers[::2]
    for member in came_back:
        buy(member, "20000")  # during the campaign: still a sleeper as of its start

    results_measure(campaign_id=campaign.pk)
    results = campaign_results(campaign)
    assert results is not None

    assert results.treatment is not None and results.control is not None
    assert results.treatment.count + results.control.count == len(sleepers)
    for control, summary in ((False, results.treatment), (True, results.control)):
        group = [m for m in sleepers if held_out(campaign.pk, m.pk, Decimal("50")) == control]
        spent = [20000.0 if m in came_back else 0.0 for m in group]
        assert summary.count == len(group) and summary.mean == pytest.approx(statistics.mean(spent))


def test_a_tier_targeted_group_keeps_the_members_the_campaign_moved_up() -> None:
    from members.models import Tier, TierChange

    silver = Tier.objects.create(code=unique("silver"), name="실버", rank=51, threshold=Decimal("300000"))
    gold = Tier.objects.create(code=unique("gold"), name="골드", rank=52, threshold=Decimal("1000000"))
    campaign = launched(name="A/B 실버", holdout_percent=Decimal("50"), tiers=[silver])
    members = [new_member() for _ in range(6)]
    before = campaign.starts_at - timedelta(days=3)
    TierChange.objects.filter(member__in=members).delete()  # their "joined" rows carry whatever clock a test set
    for member in members:
        TierChange.objects.create(member=member, to_tier=silver, reason=TierChange.Reason.QUALIFIED, changed_at=before)
    type(members[0]).objects.filter(pk__in=[m.pk for m in members]).update(tier=silver)
    moved = members[0]
    type(moved).objects.filter(pk=moved.pk).update(tier=gold)  # upgraded during the campaign
    TierChange.objects.create(member=moved, from_tier=silver, to_tier=gold, reason=TierChange.Reason.QUALIFIED)

    results_measure(campaign_id=campaign.pk)
    results = campaign_results(campaign)
    assert results is not None
    groups = [summary for summary in (results.treatment, results.control) if summary is not None]
    assert sum(summary.count for summary in groups) == len(members)  # the draw may put all six on one side


def test_the_measurement_reads_the_groups_with_the_same_queries_for_more_members() -> None:
    campaign = launched(name="A/B 규모", holdout_percent=Decimal("20"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            results_measure(campaign_id=campaign.pk)
        return len(captured.captured_queries)

    buy(new_member(), "10000")
    results_measure(campaign_id=campaign.pk)  # the reading exists: later ones update it
    few = queries()
    for _ in range(10):
        new_member()
    buy(new_member(), "10000")
    assert queries() == few


def test_the_results_page_reads_the_last_measurement_and_never_draws_the_groups_itself(admin_client) -> None:
    campaign = launched(name="A/B 화면", holdout_percent=Decimal("30"))
    for _ in range(8):
        buy(new_member(), "10000")
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert "campaign-difference" not in admin_client.get(url).content.decode()  # not measured yet

    results_measure(campaign_id=campaign.pk)
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(url).content.decode()

    assert not [query for query in captured.captured_queries if "sha256" in query["sql"]]
    assert 'id="campaign-difference"' in page and 'id="campaign-measure"' in page


def test_launched_campaigns_are_measured_while_their_window_is_open_and_once_after_it_closes(frozen_clock) -> None:
    from tests.campaigns.conftest import draft

    running = launched(name="진행 중", holdout_percent=Decimal("10"))
    ending = launched(name="곧 끝남", ends_at=frozen_clock.now() + timedelta(hours=1))  # no holdout: measured too
    draft(name="초안")
    ahead = launched(name="예정", starts_at=frozen_clock.now() + timedelta(days=3))
    assert set(results_due()) == {running.pk, ending.pk}
    assert results_measure(campaign_id=ahead.pk) is None  # nothing to measure before its start

    for campaign in (running, ending):
        results_measure(campaign_id=campaign.pk)
    assert set(results_due()) == {running.pk, ending.pk}  # both windows still open

    frozen_clock.advance(1)  # the second one has ended (its status left as it was: late beat)
    assert set(results_due()) == {running.pk, ending.pk}
    results_measure(campaign_id=ending.pk)
    assert ResultsReading.objects.get(campaign=ending).window_until == ending.ends_at
    assert results_due() == [running.pk]
    ending.refresh_from_db()
    assert ending.status == CampaignStatus.RUNNING  # measured to its end whatever the beat did


def test_the_measure_button_queues_the_measurement_through_the_outbox(admin_client) -> None:
    campaign = launched(name="A/B 버튼", holdout_percent=Decimal("10"))
    response = admin_client.post(reverse("admin:campaigns_campaign_measure", args=[campaign.pk]))
    assert response.status_code == 302
    message = OutboxMessage.objects.filter(task="campaigns.campaign_results_measure_task").latest("pk")
    assert message.kwargs == {"campaign_id": campaign.pk}


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
    results_measure(campaign_id=campaign.pk)
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'id="campaign-groups"' in page
    assert "members who bought nothing count as zero" in page or "구매하지 않은 회원은 0" in page


def test_the_plain_draw_the_quick_start_uses_gives_the_groups_the_sql_statement_gives() -> None:
    """SQLite (``make run``) has no SHA-256: there the groups are drawn in Python through the ORM.
    Both ways must give the same groups, counts, means and variances."""
    from django.utils import timezone

    from campaigns.results import holdout_groups, holdout_groups_plain

    campaign = launched(name="A/B 두 길", holdout_percent=Decimal("40"))
    for index, member in enumerate([new_member() for _ in range(24)]):
        if index % 3:
            order = buy(member, str(10000 + 1000 * index)).data["order_id"]
            if index % 5 == 0:
                purchase_refund(order_id=order, refund_id=unique("rf"), amount="3000")
    until = timezone.now()
    by_sql, by_orm = holdout_groups(campaign, until), holdout_groups_plain(campaign, until)
    assert set(by_sql) == set(by_orm) and sum(group.count for group in by_sql.values()) >= 24
    for control, summary in by_sql.items():
        plain = by_orm[control]
        assert (plain.count, plain.mean) == (summary.count, pytest.approx(summary.mean))
        assert plain.variance == pytest.approx(summary.variance)
