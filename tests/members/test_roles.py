"""Roles on a fresh database: each exists with its permissions, and can do exactly its part.

The test database is built by the migrations alone, as a fresh install is, so the groups
and their permissions here are the ones the roles migration made.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from loyalty.models import Account
from loyalty.services import member_register
from members.models import Member, MemberStatus, PersonalDataAccess, Tier, TierChange
from members.roles import ADMINISTRATOR, APPROVER, OPERATOR, ROLES, VIEWER, roles_sync

from .admin_helpers import MEMBERS_URL, client_for, page_url, staff

pytestmark = pytest.mark.django_db

# Permissions another branch of this release adds (admin-audit's Adjustment.Meta); the
# roles table already names them and the post-migrate sync grants them once they exist.
ARRIVING_WITH_OTHER_BRANCHES = {"loyalty.approve_adjustment"}


def permissions_of(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_exists_on_a_fresh_database_with_exactly_its_permissions(role):
    missing = set(roles_sync()[role])
    assert missing <= ARRIVING_WITH_OTHER_BRANCHES
    assert permissions_of(role) == set(ROLES[role]) - missing


def test_only_the_roles_with_it_see_personal_data():
    assert "members.view_personal_data" not in ROLES[VIEWER]
    for role in (OPERATOR, APPROVER, ADMINISTRATOR):
        assert "members.view_personal_data" in ROLES[role]


def test_no_role_may_delete_anything_the_ledger_depends_on():
    deletable = {perm for perms in ROLES.values() for perm in perms if ".delete_" in perm}
    # Schedules are configuration; deleting a login lockout's record is how an administrator unlocks someone.
    allowed = {"axes.delete_accessattempt"}
    assert all(perm.startswith("django_celery_beat.") or perm in allowed for perm in deletable), deletable


def test_a_user_holding_two_roles_has_both_parts():
    user = staff(VIEWER, username="two-roles")
    user.groups.add(Group.objects.get(name=APPROVER))
    assert user.has_perm("members.view_personal_data")
    assert not user.has_perm("members.change_member")


@pytest.fixture
def member():
    return member_register(external_id="R-1", name="김역할", phone="010-3333-4444", email="role@example.com").member


def new_member_form(external_id: str) -> dict[str, str]:
    return {"external_id": external_id, "name": "이신규", "phone": "010 5555 6666", "email": "",
            "birthday": "", "channel": "offline", "home_store": ""}


# The viewer -------------------------------------------------------------------------------


def test_a_viewer_reads_members_with_phone_and_email_masked(member):
    client = client_for(staff(VIEWER))
    listing = client.get(MEMBERS_URL).content.decode()
    assert "010-****-4444" in listing and "010-3333-4444" not in listing
    assert "r***@example.com" in listing and "role@example.com" not in listing
    page = client.get(page_url(member.pk)).content.decode()
    assert "010-****-4444" in page and "010-3333-4444" not in page
    assert 'id="member_form"' not in page and 'id="status-form"' not in page


def test_a_viewer_can_change_nothing(member):
    client = client_for(staff(VIEWER))
    assert client.get(f"{MEMBERS_URL}add/").status_code == 403
    assert client.post(f"{MEMBERS_URL}add/", new_member_form("R-V")).status_code == 403
    assert client.post(page_url(member.pk), {"name": "바뀐이름", "channel": "online"}).status_code == 403
    for action in ("status", "tier-floor", "referrer", "merge", "export"):
        assert client.get(page_url(member.pk, action)).status_code == 403, action
    assert client.post(page_url(member.pk, "status"), {"status": "suspended", "reason": "x"}).status_code == 403
    assert Member.objects.get(pk=member.pk).name == "김역할"
    assert not Member.objects.filter(external_id="R-V").exists()
    assert client.get("/admin/members/personaldataaccess/").status_code == 403
    assert client.get("/admin/members/tier/add/").status_code == 403


# The operator -----------------------------------------------------------------------------


def test_an_operator_adds_a_member_who_gets_a_normalized_phone_and_an_account():
    client = client_for(staff(OPERATOR))
    response = client.post(f"{MEMBERS_URL}add/", new_member_form("R-NEW"))
    assert response.status_code == 302
    added = Member.objects.get(external_id="R-NEW")
    assert added.phone == "01055556666"
    assert Account.objects.filter(member=added).exists()
    assert added.tier is not None and added.tier.rank == 0


def test_an_operator_changes_a_member_and_their_status_with_a_reason(member):
    client = client_for(staff(OPERATOR))
    page = client.get(page_url(member.pk)).content.decode()
    assert "010-3333-4444" in page  # operators see personal data
    form = {"name": "김수정", "phone": "+82 10 3333 4445", "email": "New@Example.com", "birthday": "",
            "channel": "online", "home_store": ""}
    assert client.post(page_url(member.pk), form).status_code == 302
    changed = Member.objects.get(pk=member.pk)
    assert (changed.name, changed.phone, changed.email) == ("김수정", "01033334445", "new@example.com")
    response = client.post(page_url(member.pk, "status"), {"status": "suspended", "reason": "fraud check"})
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).status == MemberStatus.SUSPENDED
    change = PersonalDataAccess.objects.filter(action=PersonalDataAccess.Action.CHANGE, reason="fraud check").get()
    assert list(change.member_rows.values_list("member_id", flat=True)) == [member.pk]


def test_an_operator_may_not_touch_rules_tiers_keys_or_the_access_log(member):
    client = client_for(staff(OPERATOR))
    for url in ("/admin/members/tier/add/", "/admin/loyalty/apikey/", "/admin/members/personaldataaccess/",
                "/admin/loyalty/earningrule/add/", "/admin/auth/user/"):
        assert client.get(url).status_code == 403, url


# The approver -----------------------------------------------------------------------------


def test_an_approver_sees_personal_data_but_changes_no_member(member):
    client = client_for(staff(APPROVER))
    assert "010-3333-4444" in client.get(page_url(member.pk)).content.decode()
    assert client.get(f"{MEMBERS_URL}add/").status_code == 403
    assert client.post(page_url(member.pk, "status"), {"status": "dormant", "reason": "x"}).status_code == 403
    assert client.get(page_url(member.pk, "export")).status_code == 403
    assert Member.objects.get(pk=member.pk).status == MemberStatus.ACTIVE


# The administrator ------------------------------------------------------------------------


def test_an_administrator_reads_the_access_log_and_manages_tiers_and_keys(member):
    client = client_for(staff(ADMINISTRATOR))
    client.get(page_url(member.pk))
    log = client.get("/admin/members/personaldataaccess/", {"q": member.external_id})
    assert log.status_code == 200
    assert "administrator-user" in log.content.decode()
    for url in ("/admin/members/tier/add/", "/admin/loyalty/apikey/", "/admin/django_celery_beat/periodictask/",
                "/admin/auth/user/"):
        assert client.get(url).status_code == 200, url


# Everyone, superusers included -------------------------------------------------------------


def test_nobody_deletes_a_member_or_edits_tier_history(member):
    client = client_for(staff(None, superuser=True))
    assert client.get(page_url(member.pk, "delete")).status_code == 403
    assert client.get("/admin/members/tierchange/add/").status_code == 403
    change = TierChange.objects.filter(member=member).first()
    assert change is not None
    response = client.post(f"/admin/members/tierchange/{change.pk}/change/", {"note": "rewritten"})
    assert response.status_code == 403
    assert TierChange.objects.get(pk=change.pk).note == ""


def test_the_stock_change_form_cannot_set_status_tier_merge_or_referrer(member):
    """Fields posted to the page beyond identity are ignored: they change through services only."""
    other = member_register(external_id="R-2", name="박다른").member
    gold = Tier.objects.create(code="gold-r", name="Gold", rank=5)
    client = client_for(staff(None, superuser=True))
    form = {"name": "김역할", "phone": "010-3333-4444", "email": "role@example.com", "birthday": "",
            "channel": "online", "home_store": "", "status": "merged", "tier": gold.pk,
            "merged_into": other.pk, "referred_by": other.pk, "tier_floor_until": str(timezone.localdate()
                                                                                   + timedelta(days=9))}
    assert client.post(page_url(member.pk), form).status_code == 302
    after = Member.objects.get(pk=member.pk)
    assert after.status == MemberStatus.ACTIVE and after.merged_into_id is None and after.referred_by_id is None
    assert after.tier_id == member.tier_id and after.tier_floor_until is None
