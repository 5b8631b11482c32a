"""The audit trail: who changed what, field by field, and why; staff in the admin, API keys by name."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from audit.context import audit_reason
from audit.selectors import changes_for
from loyalty.api.keys import api_key_create
from loyalty.models import Adjustment, ApiKey, EarningRule, ProgramPolicy
from loyalty.services import adjustment_approve, adjustment_request, member_register
from members.models import Member, Store, Tier
from tests.conftest import new_member

pytestmark = pytest.mark.django_db


def staff(username: str, *codenames: str, superuser: bool = False):  # type: ignore[no-untyped-def]
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username, password="pw-for-tests-1234")
    user = User.objects.create_user(username, password="pw-for-tests-1234", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)


def entries(obj) -> list[LogEntry]:  # type: ignore[no-untyped-def]
    return list(LogEntry.objects.get_for_object(obj).order_by("timestamp", "id"))


def test_a_member_update_records_each_changed_field_and_nothing_when_nothing_changed() -> None:
    member = member_register(external_id="A1", name="김단골", phone="010-1111-2222").member
    member_register(external_id="A1", name="김단골", phone="01011112222")
    member_register(external_id="A1", name="김단골", phone="010-3333-4444", email="kim@example.com")
    created, changed = entries(member)
    assert created.action == LogEntry.Action.CREATE
    assert changed.changes_dict == {"phone": ["01011112222", "01033334444"], "email": ["", "kim@example.com"]}


def test_the_member_put_costs_one_insert_when_something_changed_and_nothing_otherwise(api_client, api_key) -> None:  # type: ignore[no-untyped-def]
    url = "/api/v1/members/PUT1"
    body = {"name": "박단골", "phone": "010-5555-6666"}
    api_client.put(url, body)
    api_client.put(url, body)  # warm: content types and the key are cached

    with CaptureQueriesContext(connection) as same:
        assert api_client.put(url, body).status_code == 200
    with CaptureQueriesContext(connection) as changed:
        assert api_client.put(url, {**body, "name": "박단골2"}).status_code == 200

    inserts = [q["sql"] for q in changed.captured_queries if "auditlog_logentry" in q["sql"]]
    assert len(inserts) == 1 and inserts[0].startswith("INSERT")
    assert not any("auditlog_logentry" in q["sql"] for q in same.captured_queries)
    # An unchanged PUT writes nothing at all; a changed one its UPDATE and the trail's one INSERT.
    assert not any(q["sql"].startswith("UPDATE") for q in same.captured_queries)
    assert len(changed.captured_queries) == len(same.captured_queries) + 2


def test_an_api_write_is_recorded_under_the_keys_name(api_client, api_key) -> None:  # type: ignore[no-untyped-def]
    api_client.put("/api/v1/members/API1", {"name": "이단골"})
    api_client.put("/api/v1/members/API1", {"name": "이단골", "email": "lee@example.com"})
    member = Member.objects.get(external_id="API1")
    with translation.override("en"):
        changes = changes_for(member, user=None)
    assert [c.who for c in changes] == [f"API key: {api_key.name}", f"API key: {api_key.name}"]
    assert all(entry.actor_id is None for entry in entries(member))


def test_a_staff_change_in_the_admin_is_recorded_under_the_user(client) -> None:  # type: ignore[no-untyped-def]
    boss = staff("boss", superuser=True)
    tier = Tier.objects.create(code="gold", name="Gold", rank=5, threshold=1_000_000)
    client.force_login(boss)
    response = client.post(reverse("admin:members_tier_change", args=[tier.pk]), {
        "code": "gold", "name": "Gold", "rank": 5, "basis": "spend", "threshold": "1200000", "window_months": 12,
        "earn_multiplier": "1.5", "grace_days": 0, "is_active": "on", "benefits": "",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    last = entries(tier)[-1]
    assert last.actor == boss
    assert set(last.changes_dict) == {"threshold", "earn_multiplier"}
    assert last.remote_addr == "127.0.0.1"


def test_a_reason_given_for_a_change_is_recorded_with_it() -> None:
    member = new_member()
    with audit_reason("VIP 고객 요청"):
        member.marketing_sms = True
        member.save()
    assert entries(member)[-1].additional_data == {"reason": "VIP 고객 요청"}


def test_adjustments_record_their_request_and_decision(settings) -> None:  # type: ignore[no-untyped-def]
    requester, approver = staff("kim"), staff("lee", "approve_adjustment")
    member = new_member()
    ProgramPolicy.objects.filter(pk=1).update(adjustment_approval_threshold=100)
    adjustment = adjustment_request(member=member, points=500, reason="보상", requested_by=requester,
                                    reason_code="goodwill")
    with audit_reason("확인 완료"):
        adjustment_approve(adjustment_id=adjustment.pk, approver=approver, note="확인 완료")
    created, decided = entries(Adjustment.objects.get(pk=adjustment.pk))
    assert created.changes_dict["reason_code"] == ["None", "goodwill"]
    assert decided.changes_dict["status"] == ["pending", "applied"]
    assert decided.changes_dict["decided_by"] == ["None", str(approver.pk)]
    assert decided.additional_data == {"reason": "확인 완료"}


def test_rules_policy_stores_and_api_keys_are_on_the_trail() -> None:
    rule = EarningRule.objects.create(name="r", kind="activity", activity_type="visit", points=5)
    rule.points = 10
    rule.save()
    policy = ProgramPolicy.objects.get(pk=1)
    policy.adjustment_approval_threshold = 5000
    policy.save()
    store = Store.objects.create(code="SM03", name="성수점")
    key = api_key_create(name="Online shop").key
    assert entries(rule)[-1].changes_dict == {"points": ["5", "10"]}
    assert "adjustment_approval_threshold" in entries(policy)[-1].changes_dict
    assert entries(store)[0].action == LogEntry.Action.CREATE
    assert "secret_hash" not in entries(key)[0].changes_dict


def test_a_change_of_a_field_not_loaded_is_still_recorded() -> None:
    member = new_member(name="최초")
    partial = Member.objects.only("id", "external_id").get(pk=member.pk)
    partial.name = "변경"
    partial.save(update_fields=["name"])
    assert entries(member)[-1].changes_dict == {"name": ["최초", "변경"]}


def test_viewers_see_phone_and_email_masked_in_the_diffs() -> None:
    member = member_register(external_id="M1", name="정단골", phone="010-1234-5678", email="jung@example.com").member
    member_register(external_id="M1", name="정단골", phone="010-9876-5432")
    Permission.objects.get_or_create(  # added with the roles; made here so the test stands alone
        codename="view_personal_data", content_type=ContentType.objects.get_for_model(Member),
        defaults={"name": "Can view personal data"},
    )
    viewer, operator = staff("viewer", "view_member"), staff("operator", "view_member", "view_personal_data")
    masked = {f.name: (f.old, f.new) for f in changes_for(member, user=viewer)[0].fields}
    clear = {f.name: (f.old, f.new) for f in changes_for(member, user=operator)[0].fields}
    assert masked["phone"] == ("010-****-5678", "010-****-5432")
    assert clear["phone"] == ("010-1234-5678", "010-9876-5432")
    created = {f.name: f.new for f in changes_for(member, user=viewer)[1].fields}
    assert created["email"] == "j***@example.com"
    assert "jung@example.com" not in repr(changes_for(member, user=viewer))


def test_the_history_page_shows_the_trail_with_related_names_in_bounded_queries(client) -> None:  # type: ignore[no-untyped-def]
    boss = staff("boss", superuser=True)
    tiers = [Tier.objects.create(code=f"t{i}", name=f"등급{i}", rank=10 + i, threshold=1000 * (i + 1))
             for i in range(3)]
    store = Store.objects.create(code="BS04", name="부산점")
    member = member_register(external_id="H1", name="한단골").member
    client.force_login(boss)
    for tier in tiers:
        member.tier = tier
        member.home_store = store
        member.save()
    url = reverse("admin:members_tier_history", args=[tiers[0].pk])
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:loyalty_earningrule_changelist"))
    with translation.override("en"):
        changes = changes_for(member, user=boss)
    names = [(f.old, f.new) for c in changes for f in c.fields if f.name == "tier"]
    assert ("등급0", "등급1") in names and ("등급1", "등급2") in names
    with CaptureQueriesContext(connection) as queries:
        changes_for(member, user=boss)
    assert len(queries.captured_queries) <= 3  # the entries, then one query per related model (tiers, stores)
    assert few.captured_queries  # the admin answered


def test_the_audit_list_is_searchable_by_the_keys_name_and_read_only(client, api_client, api_key) -> None:  # type: ignore[no-untyped-def]
    api_client.put("/api/v1/members/S1", {"name": "서단골"})
    new_member(name="다른회원")
    boss = staff("boss", superuser=True)
    client.force_login(boss)
    response = client.get(reverse("admin:auditlog_logentry_changelist"), {"q": api_key.name})
    listed = {e.object_repr: e for e in response.context["cl"].result_list}
    assert "서단골 (S1)" in listed  # written by the key
    assert not any("다른회원" in name for name in listed)  # written by no key
    entry = listed["서단골 (S1)"]
    detail = client.get(reverse("admin:auditlog_logentry_change", args=[entry.pk]))
    assert detail.status_code == 200 and "서단골" in detail.content.decode()
    assert client.post(reverse("admin:auditlog_logentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403


def test_the_audit_list_is_for_administrators_only(client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff("viewer", "view_member"))
    assert client.get(reverse("admin:auditlog_logentry_changelist")).status_code == 403
    client.force_login(staff("auditor", "view_logentry"))
    assert client.get(reverse("admin:auditlog_logentry_changelist")).status_code == 200


def test_revoking_a_key_in_the_admin_is_on_the_trail(client) -> None:  # type: ignore[no-untyped-def]
    boss = staff("boss", superuser=True)
    key = api_key_create(name="POS GN01").key
    client.force_login(boss)
    client.post(reverse("admin:loyalty_apikey_changelist"),
                {"action": "revoke", "_selected_action": [key.pk]})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    last = entries(key)[-1]
    assert last.actor == boss and "revoked_at" in last.changes_dict


def test_erasing_a_member_blanks_their_personal_data_in_the_trail_and_keeps_the_rest() -> None:
    from audit.erasure import member_trail_erase

    member = member_register(external_id="E1", name="지울회원", phone="010-1111-2222", email="erase@example.com").member
    member_register(external_id="E1", name="지울회원", phone="010-3333-4444", marketing_sms=True)
    other = member_register(external_id="E2", name="남을회원", phone="010-5555-6666").member
    assert member_trail_erase(member) == 2
    created, changed = entries(member)
    assert "지울회원" not in created.object_repr and "E1" in created.object_repr
    assert changed.changes_dict["phone"] == ["[erased]", "[erased]"]
    assert changed.changes_dict["marketing_sms"] == ["False", "True"]
    assert created.changes_dict["email"][1] == "[erased]"
    assert entries(other)[0].changes_dict["phone"][1] == "01055556666"


def test_a_members_history_page_masks_personal_data_for_a_viewer(client) -> None:  # type: ignore[no-untyped-def]
    member = member_register(external_id="V1", name="문단골", phone="010-2468-1357", email="moon@example.com").member
    member_register(external_id="V1", name="문단골", phone="010-1357-2468")
    client.force_login(staff("viewer", "view_member"))
    page = client.get(reverse("admin:members_member_history", args=[member.pk])).content.decode()
    assert "010-****-1357" in page and "010-****-2468" in page
    assert "2468-1357" not in page and "moon@example.com" not in page
