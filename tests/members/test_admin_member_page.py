"""The member admin: list, search, filters, the member page and its actions, the access log."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.models import Account, LedgerEntry
from loyalty.services import member_register, points_adjust
from members.models import Member, MemberStatus, PersonalDataAccess, Tier, TierChange
from members.roles import OPERATOR, VIEWER
from tests.conftest import account_of, buy, give, new_member, reload, spend, unique

from .admin_helpers import MEMBERS_URL, client_for, page_url, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return client_for(staff(OPERATOR))


def listed(client, **params) -> str:
    response = client.get(MEMBERS_URL, params)
    assert response.status_code == 200
    return response.content.decode()


# Search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["010-1234-5678", "+82 10 1234 5678", "01012345678", "010.1234.5678", "5678"])
def test_the_list_finds_a_phone_in_any_notation_or_by_its_last_digits(operator, typed):
    new_member(external_id="S-1", name="김단골", phone="010-1234-5678")
    new_member(external_id="S-2", name="이다른", phone="010-9999-0000")
    page = listed(operator, q=typed)
    assert "S-1" in page and "S-2" not in page


def test_the_list_finds_a_korean_name_by_part_an_email_exactly_and_an_external_id_exactly(operator):
    new_member(external_id="EXT-77", name="홍길동", email="Gil@Example.com")
    new_member(external_id="EXT-770", name="김철수", email="gil2@example.com")
    assert "EXT-77<" not in listed(operator, q="철수") and "EXT-770" in listed(operator, q="철수")
    by_email = listed(operator, q="GIL@example.com")
    assert "EXT-77" in by_email and "EXT-770" not in by_email
    by_id = listed(operator, q="EXT-77")
    assert "홍길동" in by_id and "김철수" not in by_id


# Filters -----------------------------------------------------------------------------------


def test_the_list_filters_by_birthday_month_joined_range_and_expiring_points(operator, frozen_clock):
    march = new_member(external_id="F-MAR", birthday=date(1990, 3, 5))
    new_member(external_id="F-JUL", birthday=date(1990, 7, 5))
    assert "F-MAR" in listed(operator, birthday_month="3") and "F-JUL" not in listed(operator, birthday_month="3")

    Member.objects.filter(pk=march.pk).update(joined_at=frozen_clock.at(date(2024, 1, 15)))
    in_range = listed(operator, joined_from="2024-01-01", joined_to="2024-01-15")
    assert "F-MAR" in in_range and "F-JUL" not in in_range

    give(march, 100, validity_days=20)  # expires within 30 days
    other = new_member(external_id="F-LATER")
    give(other, 100, validity_days=200)
    expiring = listed(operator, expiring="30")
    assert "F-MAR" in expiring and "F-LATER" not in expiring


def test_the_list_shows_available_and_pending_points_and_the_tier(operator, frozen_clock):
    member = new_member(external_id="P-1")
    give(member, 1200)
    buy(member, "50000")  # 500 P pending for 7 days under the default rule
    page = listed(operator, q="P-1")
    assert "1,200 P" in page and "500 P" in page
    assert reload(member).tier.name in page


def test_the_list_runs_the_same_queries_whatever_the_page_holds(operator):
    """Points, tiers and masking for the whole page come from fixed queries, never one per row."""

    def queries() -> list[str]:
        operator.get(MEMBERS_URL)  # session and permissions warmed alike
        with CaptureQueriesContext(connection) as captured:
            assert operator.get(MEMBERS_URL).status_code == 200
        return [q["sql"] for q in captured]

    for _ in range(3):
        give(new_member(), 100)
    few = queries()
    for _ in range(27):
        give(new_member(), 100)
    many = queries()
    assert len(many) == len(few)
    # session, user, 2 permission reads, tier and store filters, capped count, the page, its points,
    # the access record (+ its members, + a savepoint pair inside the test's transaction)
    assert len(many) <= 15, many


def test_the_list_never_counts_the_whole_table(operator):
    new_member()
    with CaptureQueriesContext(connection) as captured:
        operator.get(MEMBERS_URL)
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper() and "members_member" in q["sql"]]
    assert all("LIMIT" in sql.upper() for sql in counts), counts


# The member page ---------------------------------------------------------------------------


def test_the_page_shows_balance_lots_ledger_purchases_redemptions_tiers_and_referrals(operator, frozen_clock):
    member = new_member(external_id="PG-1", phone="010-2222-3333")
    referred = member_register(external_id="PG-2", name="추천받음", referrer_code=member.referral_code).member
    give(member, 5000, validity_days=10)
    buy(member, "30000", order_id="ORDER-PG-1")
    spend(reload(member), 1000, order_id="PAY-PG-1")
    page = operator.get(page_url(member.pk)).content.decode()
    assert 'id="balance-available">4,000 P' in page
    assert 'id="balance-pending">300 P' in page
    assert 'id="balance-expiring">4,000 P' in page
    assert "ORDER-PG-1" in page and "PAY-PG-1" in page
    assert referred.external_id in page
    history = page[page.index('id="tier-history"'):page.index('id="referrals"')]
    assert str(reload(member).tier) in history
    assert page.index("PAY-PG-1") < page.index("ORDER-PG-1")  # the ledger is newest first


def test_the_ledger_on_the_page_is_paginated_newest_first(operator):
    member = new_member()
    for n in range(25):
        give(member, 10 + n, key=f"page-credit-{n}")
    first = operator.get(page_url(member.pk)).content.decode()
    assert "+34" in first and "+10<" not in first
    second = operator.get(page_url(member.pk), {"entries": 2}).content.decode()
    assert "+10<" in second and "+34" not in second


@pytest.mark.parametrize("entries", [2, 40])
def test_the_page_runs_a_bounded_number_of_queries(operator, entries):
    member = new_member()
    for n in range(entries):
        give(member, 10, key=f"bounded-{entries}-{n}")
    operator.get(page_url(member.pk))
    with CaptureQueriesContext(connection) as captured:
        assert operator.get(page_url(member.pk)).status_code == 200
    # 20 for the page, 2 for its audit trail (the changes, the names they mention): the same for 2 or 40 entries
    assert len(captured) <= 22, [q["sql"][:120] for q in captured]


def test_the_page_links_to_the_adjustment_request_form_for_operators(operator):
    member = new_member()
    page = operator.get(page_url(member.pk)).content.decode()
    assert f"/admin/loyalty/adjustment/request/?member={member.pk}" in page


def test_a_bad_phone_on_the_page_is_a_form_error_and_changes_nothing(operator):
    member = new_member(phone="010-1111-2222")
    response = operator.post(page_url(member.pk), {"name": "x", "phone": "12-34", "channel": "online"})
    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert reload(member).phone == "01011112222"


def test_adding_a_member_with_an_existing_external_id_is_refused(operator):
    new_member(external_id="DUP-1", name="원래")
    response = operator.post(f"{MEMBERS_URL}add/", {"external_id": "DUP-1", "name": "덮어쓰기", "channel": "online"})
    assert response.status_code == 200
    assert Member.objects.get(external_id="DUP-1").name == "원래"


# Tier floor ------------------------------------------------------------------------------------


def test_a_tier_floor_raises_the_tier_until_its_end_date_and_is_recorded_with_its_reason(operator):
    member = new_member()
    gold = Tier.objects.create(code="gold-f", name="Gold", rank=3)
    until = date.today() + timedelta(days=90)
    response = operator.post(page_url(member.pk, "tier-floor"),
                             {"tier": gold.pk, "until": until.isoformat(), "reason": "VIP complaint"})
    assert response.status_code == 302
    after = reload(member)
    assert (after.tier_id, after.tier_floor_id, after.tier_floor_until) == (gold.pk, gold.pk, until)
    change = TierChange.objects.filter(member=member, reason=TierChange.Reason.MANUAL).get()
    assert change.to_tier_id == gold.pk and "VIP complaint" in change.note and change.changed_by is not None


def test_a_tier_floor_in_the_past_is_refused(operator):
    member = new_member()
    response = operator.post(page_url(member.pk, "tier-floor"),
                             {"tier": member.tier_id, "until": "2000-01-01", "reason": "x"})
    assert response.status_code == 200
    assert reload(member).tier_floor_id is None


# Merge -----------------------------------------------------------------------------------------


def test_a_duplicate_found_by_phone_is_previewed_then_merged_with_its_points(operator):
    online = new_member(external_id="ON-1", phone="010-7777-8888")
    offline = new_member(external_id="OFF-1", phone="01077778888", channel="offline")
    give(offline, 700)
    finder = operator.get(page_url(online.pk, "merge")).content.decode()
    assert "OFF-1" in finder
    preview = operator.get(page_url(online.pk, "merge"), {"source": offline.pk}).content.decode()
    assert "700 P" in preview and 'id="merge-confirm"' in preview
    assert account_of(online).balance == 0  # a preview moves nothing

    unconfirmed = operator.post(page_url(online.pk, "merge"), {"source": offline.pk})
    assert unconfirmed.status_code == 200 and account_of(online).balance == 0

    response = operator.post(page_url(online.pk, "merge"), {"source": offline.pk, "confirm": "on"})
    assert response.status_code == 302
    assert account_of(online).balance == 700 and account_of(offline).balance == 0
    merged = reload(offline)
    assert merged.status == MemberStatus.MERGED and merged.merged_into_id == online.pk


def test_a_merged_member_cannot_be_merged_again(operator):
    online = new_member(phone="010-7777-1111")
    offline = new_member(phone="010-7777-1111")
    give(offline, 100)
    operator.post(page_url(online.pk, "merge"), {"source": offline.pk, "confirm": "on"})
    again = operator.post(page_url(online.pk, "merge"), {"source": offline.pk, "confirm": "on"})
    assert again.status_code == 200 and "errornote" in again.content.decode()
    assert LedgerEntry.objects.filter(account__member=online).count() == 1


# Status and referrer -------------------------------------------------------------------------


def test_status_cannot_be_set_to_merged_by_hand(operator):
    member = new_member()
    response = operator.post(page_url(member.pk, "status"), {"status": "merged", "reason": "x"})
    assert response.status_code == 200
    assert reload(member).status == MemberStatus.ACTIVE


def test_a_referrer_is_set_once_and_never_to_oneself_or_in_a_loop(operator):
    first, second = new_member(), new_member()
    assert operator.post(page_url(second.pk, "referrer"), {"referrer_code": first.referral_code}).status_code == 302
    assert reload(second).referred_by_id == first.pk
    loop = operator.post(page_url(first.pk, "referrer"), {"referrer_code": second.referral_code})
    assert loop.status_code == 200 and reload(first).referred_by_id is None
    itself = operator.post(page_url(first.pk, "referrer"), {"referrer_code": first.referral_code})
    assert itself.status_code == 200 and reload(first).referred_by_id is None


# Export and the access log ---------------------------------------------------------------------


def test_an_export_needs_a_reason_and_is_logged_with_it(operator):
    member = new_member(external_id="EXP-1", phone="010-4444-5555")
    points_adjust(member=member, points=300, reason="goodwill", key=unique("exp"))
    assert operator.post(page_url(member.pk, "export"), {"reason": ""}).status_code == 200
    assert not PersonalDataAccess.objects.filter(action=PersonalDataAccess.Action.EXPORT).exists()
    response = operator.post(page_url(member.pk, "export"), {"reason": "member's access request #12"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert body["member"]["phone"] == "010-4444-5555"
    assert body["balance"]["available"] == 300 and len(body["ledger"]) == 1
    logged = PersonalDataAccess.objects.get(action=PersonalDataAccess.Action.EXPORT)
    assert logged.reason == "member's access request #12"
    assert list(logged.member_rows.values_list("member_id", flat=True)) == [member.pk]


def test_views_and_searches_are_logged_with_who_and_which_members():
    client = client_for(staff(VIEWER, username="looker"))
    member = new_member(external_id="LOG-1", phone="010-6666-7777")
    client.get(MEMBERS_URL, {"q": "010-6666-7777"})
    client.get(page_url(member.pk))
    search = PersonalDataAccess.objects.get(action=PersonalDataAccess.Action.SEARCH)
    view = PersonalDataAccess.objects.get(action=PersonalDataAccess.Action.VIEW)
    assert search.username == view.username == "looker"
    assert "010-6666-7777" in search.query
    for access in (search, view):
        assert list(access.member_rows.values_list("member_id", flat=True)) == [member.pk]


def test_an_account_is_opened_for_every_member_created_in_the_admin(operator):
    operator.post(f"{MEMBERS_URL}add/", {"external_id": "ACC-1", "name": "계정", "phone": "010-2222-3333",
                                         "channel": "online"})
    member = Member.objects.get(external_id="ACC-1")
    assert member.phone == "01022223333"
    assert Account.objects.get(member=member).balance == 0


def test_a_big_list_shows_an_estimate_and_a_broad_filter_a_capped_count(operator, monkeypatch):
    from members.paging import EstimatedCountPaginator

    for n in range(5):
        new_member(external_id=f"CAP-{n}", birthday=date(1990, 3, 1))
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 2)
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_from", 1)  # the estimate, as on a big table
    english = {"HTTP_ACCEPT_LANGUAGE": "en"}
    broad = operator.get(MEMBERS_URL, {"birthday_month": "3"}, **english).content.decode()
    assert "more than 2 members" in " ".join(broad.split())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE members_member")
        everyone = operator.get(MEMBERS_URL, **english).content.decode()
        assert "about 5 members" in " ".join(everyone.split())


def test_a_status_set_on_selected_members_goes_through_the_service_for_each(operator):
    first, second = new_member(), new_member()
    merged_into = new_member(phone="010-3030-4040")
    merged = new_member(phone="010-3030-4040")
    operator.post(page_url(merged_into.pk, "merge"), {"source": merged.pk, "confirm": "on"})
    selection = {"action": "status_set_selected", "_selected_action": [first.pk, second.pk, merged.pk]}
    asked = operator.post(MEMBERS_URL, selection)
    assert asked.status_code == 200 and 'id="status-action-form"' in asked.content.decode()
    assert reload(first).status == MemberStatus.ACTIVE  # nothing changes before the form is sent
    done = operator.post(MEMBERS_URL, {**selection, "apply": "1", "status": "dormant", "reason": "1 year idle"})
    assert done.status_code == 302
    assert reload(first).status == reload(second).status == MemberStatus.DORMANT
    assert reload(merged).status == MemberStatus.MERGED
    logged = PersonalDataAccess.objects.get(action=PersonalDataAccess.Action.CHANGE, reason="1 year idle")
    assert set(logged.member_rows.values_list("member_id", flat=True)) == {first.pk, second.pk}


def test_a_viewer_gets_no_bulk_action():
    client = client_for(staff(VIEWER, username="bulk-viewer"))
    member = new_member()
    client.post(MEMBERS_URL, {"action": "status_set_selected", "_selected_action": [member.pk],
                              "apply": "1", "status": "suspended", "reason": "x"})
    assert reload(member).status == MemberStatus.ACTIVE
    assert 'name="_selected_action"' not in client.get(MEMBERS_URL).content.decode()
