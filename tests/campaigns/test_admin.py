"""The campaigns admin: drafted on the form, launched by an approver's button, results shown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind, CampaignStatus, Segment
from campaigns.results import results_measure
from loyalty.models import OutboxMessage
from members.roles import OPERATOR, roles_sync
from tests.campaigns.conftest import approver, draft, launched
from tests.conftest import buy, new_member, unique

pytestmark = pytest.mark.django_db


def operator() -> User:
    roles_sync()
    user = User.objects.create_user(unique("operator"), password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATOR))
    return User.objects.get(pk=user.pk)


def test_an_operator_drafts_but_cannot_launch_and_an_approver_launches(client) -> None:
    client.force_login(operator())
    now = timezone.localtime()
    response = client.post(reverse("admin:campaigns_campaign_add"), {
        "name": "연말 2배", "kind": "multiplier", "starts_at_0": (now - timedelta(days=1)).strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00", "ends_at_0": (now + timedelta(days=5)).strftime("%Y-%m-%d"), "ends_at_1": "00:00:00",
        "multiplier": "2.00", "bonus_points": "0", "rate_points": "0", "rate_amount": "0", "skus": "[]",
        "categories": "[]", "min_amount": "0", "activity_types": "[]", "mission_target": "0",
        "mission_period": "month", "channels": "[]", "holdout_percent": "0", "point_value": "1",
        "budget_points": "100000",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="연말 2배")
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'id="campaign-launch"' not in page
    client.post(reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "launch"]))
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT

    client.force_login(approver())
    client.post(reverse("admin:campaigns_campaign_simulate", args=[campaign.pk]))
    assert Campaign.objects.get(pk=campaign.pk).simulation["budget"] == 100000
    client.post(reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "launch"]))
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_the_results_page_costs_the_same_queries_for_many_awards_and_never_reads_them(admin_client) -> None:
    """The page reads the last measurement (one row) and the budget's slices: a campaign with
    many awards costs what one with few costs, and no query of the page touches the awards."""
    campaign = launched(name="결과", budget_points=100_000, holdout_percent=Decimal("50"))
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])

    def queries() -> tuple[list[str], str]:
        results_measure(campaign_id=campaign.pk)
        admin_client.get(url)
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(url).content.decode()
        return [query["sql"] for query in captured.captured_queries], page

    for _ in range(2):
        buy(new_member(), "10000")
    few, _page = queries()
    for _ in range(12):
        buy(new_member(), "10000")
    many, page = queries()

    assert len(many) == len(few)
    assert not [sql for sql in few + many if "campaigns_campaignaward" in sql]
    awarded = Campaign.objects.get(pk=campaign.pk).awards.count()  # the holdout held some buyers out
    assert awarded > 2
    assert 'id="campaign-results"' in page and "<svg" in page and 'id="campaign-difference"' in page
    assert f'<td class="number" id="campaign-members">{awarded}</td>' in page


def test_the_results_page_shows_the_last_measurement_with_its_time_and_the_budget_live(admin_client) -> None:
    campaign = launched(name="측정", kind=CampaignKind.BONUS, bonus_points=100, budget_points=10_000)
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    buy(new_member(), "10000")

    page = admin_client.get(url).content.decode()
    assert 'id="campaign-members"' not in page and 'id="campaign-measure"' in page  # never measured: says so
    assert "Not measured yet" in page or "아직 측정하지 않았습니다" in page
    assert "100 P used of 10,000 P (1.0 %), 9,900 P left" in page or "9,900 P 남음" in page

    results_measure(campaign_id=campaign.pk)
    buy(new_member(), "10000")  # after the measurement: the budget shows it, the reading not yet
    page = admin_client.get(url).content.decode()

    assert '<td class="number" id="campaign-members">1</td>' in page
    assert "Measured at" in page or "측정했습니다" in page
    assert "200 P used of 10,000 P (2.0 %), 9,800 P left" in page or "9,800 P 남음" in page


def test_the_measure_button_is_for_launched_campaigns(admin_client) -> None:
    campaign = draft(name="초안 측정")
    admin_client.post(reverse("admin:campaigns_campaign_measure", args=[campaign.pk]))
    assert not OutboxMessage.objects.filter(task="campaigns.campaign_results_measure_task",
                                            kwargs={"campaign_id": campaign.pk}).exists()


def test_a_segment_page_shows_an_estimate_at_once(admin_client) -> None:
    segment = Segment.objects.create(name="12월 생일", birthday_month=12)
    page = admin_client.get(reverse("admin:campaigns_segment_change", args=[segment.pk])).content.decode()
    assert "about" in page or "약" in page
    assert admin_client.get(reverse("admin:campaigns_segment_changelist")).status_code == 200


def test_a_draft_can_be_cancelled_and_a_cancelled_one_not_launched(admin_client) -> None:
    campaign = draft(name="취소")
    admin_client.post(reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "cancel"]))
    admin_client.post(reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "launch"]))
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED


def test_a_grant_page_links_its_run_to_the_task_run_page_for_those_who_may_see_it(admin_client, client) -> None:
    from campaigns.grants import grant_run_key
    from campaigns.models import CampaignKind
    from campaigns.tasks import campaign_grant_plan_task
    from loyalty.models import TaskRun
    from tests.loyalty.scheduled_work import eager_tasks

    for _ in range(3):
        new_member(birthday="1990-12-01")
    segment = Segment.objects.create(name="12월 생일 지급", birthday_month=12)
    campaign = launched(kind=CampaignKind.GRANT, name="지급 링크", bonus_points=250, segment=segment,
                        budget_points=500)
    with eager_tasks():
        campaign_grant_plan_task(campaign.pk)
    run = TaskRun.objects.get(key=grant_run_key(campaign.pk, 1))
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(url).content.decode()
    assert 'id="campaign-grant-runs"' in page
    assert f'href="{reverse("admin:loyalty_taskrun_change", args=[run.pk])}"' in page
    row = page.split('id="campaign-grant-runs"')[1].split("</table>")[0]
    assert ">2<" in row and "500 P" in row and ">1<" in row  # two granted, the third left out by the budget
    client.force_login(operator())  # operators may not open task runs: the key, without a link
    page = client.get(url).content.decode()
    assert run.key in page and reverse("admin:loyalty_taskrun_change", args=[run.pk]) not in page
