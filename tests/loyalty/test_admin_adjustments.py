"""Maker-checker adjustments in the admin: the request form, the queue, the decision page.

Every write goes through the loyalty services; refusals come back as form errors, never 500s.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from loyalty.models import Adjustment, ProgramPolicy
from tests.conftest import account_of, give, new_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]

REQUEST_URL = "admin:loyalty_adjustment_request"


def staff_with(username: str, *codenames: str):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(username, password="pw-for-tests-1234", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def operator():  # type: ignore[no-untyped-def]
    return staff_with("operator", "view_member", "view_adjustment", "add_adjustment")


@pytest.fixture
def approver():  # type: ignore[no-untyped-def]
    return staff_with("approver", "view_member", "view_adjustment", "approve_adjustment")


@pytest.fixture
def threshold_1000() -> int:
    ProgramPolicy.objects.filter(pk=1).update(adjustment_approval_threshold=1000)
    return 1000


def request_adjustment(client, member, points: int, **extra):  # type: ignore[no-untyped-def]
    body = {"member": member.pk, "direction": "add" if points > 0 else "deduct", "points": abs(points),
            "reason_code": "goodwill", "reason": "배송 지연 사과", "internal_note": "ticket 42", **extra}
    return client.post(reverse(REQUEST_URL), body)


def test_the_request_form_prefills_the_member_from_the_member_page(client, operator) -> None:  # type: ignore[no-untyped-def]
    member = new_member(name="김단골")
    client.force_login(operator)
    response = client.get(reverse(REQUEST_URL) + f"?member={member.pk}")
    assert response.status_code == 200
    assert response.context["form"]["member"].value() == member.pk
    assert "김단골" in response.content.decode()


def test_the_stock_add_page_leads_to_the_request_form(client, operator) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    response = client.get(reverse("admin:loyalty_adjustment_add") + "?member=7")
    assert response.status_code == 302
    assert response["Location"] == reverse(REQUEST_URL) + "?member=7"


def test_below_the_threshold_the_request_is_applied_at_once(client, operator, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    response = request_adjustment(client, member, 999)
    assert response.status_code == 302
    adjustment = Adjustment.objects.get(member=member)
    assert (adjustment.status, adjustment.points, adjustment.reason_code) == ("applied", 999, "goodwill")
    assert adjustment.requested_by == operator == adjustment.decided_by
    assert account_of(member).balance == 999


def test_from_the_threshold_up_the_request_waits_and_moves_nothing(client, operator, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    request_adjustment(client, member, 1000)
    adjustment = Adjustment.objects.get(member=member)
    assert adjustment.status == "pending"
    assert account_of(member).version == 0
    pending = client.get(reverse("admin:loyalty_adjustment_pending"))
    assert list(pending.context["pending"]) == [adjustment]


def test_a_deduction_larger_than_the_balance_is_a_form_error(client, operator, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    give(member, 300)
    client.force_login(operator)
    response = request_adjustment(client, member, -500)
    assert response.status_code == 200
    assert "300" in " ".join(response.context["form"].non_field_errors())
    assert not Adjustment.objects.filter(member=member).exists()
    assert account_of(member).balance == 300


def test_validity_is_refused_on_a_deduction(client, operator) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    response = request_adjustment(client, member, -10, validity_days=30)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not Adjustment.objects.exists()


def test_added_points_can_be_given_a_validity_or_none(client, operator, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    request_adjustment(client, member, 10, validity_days=30)
    request_adjustment(client, member, 20, never_expires="on")
    assert sorted(Adjustment.objects.values_list("points", "validity_days")) == [(10, 30), (20, None)]


def test_an_approver_approves_and_the_points_move(client, operator, approver, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    request_adjustment(client, member, 5000)
    adjustment = Adjustment.objects.get(member=member)
    client.force_login(approver)
    response = client.post(reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk]),
                           {"decision": "approve", "note": "확인함"})
    assert response.status_code == 302
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.decided_by, adjustment.decision_note) == ("applied", approver, "확인함")
    assert account_of(member).balance == 5000


def test_a_rejected_request_stays_on_record_and_moves_nothing(client, operator, approver, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    request_adjustment(client, member, 5000)
    adjustment = Adjustment.objects.get(member=member)
    client.force_login(approver)
    url = reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk])
    client.post(url, {"decision": "reject", "note": "중복"})
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.decision_note) == ("rejected", "중복")
    assert account_of(member).version == 0
    listed = client.get(reverse("admin:loyalty_adjustment_changelist"))
    assert adjustment in listed.context["cl"].result_list


def test_an_operator_cannot_approve(client, operator, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    requester = staff_with("someone", "add_adjustment", "view_adjustment")
    client.force_login(requester)
    request_adjustment(client, member, 5000)
    adjustment = Adjustment.objects.get(member=member)
    client.force_login(operator)
    page = client.get(reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk]))
    assert page.status_code == 200 and 'id="approve"' not in page.content.decode()
    response = client.post(reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk]), {"decision": "approve"})
    assert response.status_code == 403
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"
    assert account_of(member).version == 0


def test_nobody_approves_their_own_request(client, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    both = staff_with("maker-and-checker", "view_adjustment", "add_adjustment", "approve_adjustment")
    member = new_member()
    client.force_login(both)
    request_adjustment(client, member, 5000)
    adjustment = Adjustment.objects.get(member=member)
    page = client.get(reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk]))
    assert 'id="approve"' not in page.content.decode()
    response = client.post(reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk]), {"decision": "approve"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"
    assert account_of(member).version == 0


def test_a_superuser_does_not_approve_their_own_request_either(client, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    boss = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1234")
    member = new_member()
    client.force_login(boss)
    request_adjustment(client, member, 5000)
    adjustment = Adjustment.objects.get(member=member)
    response = client.post(reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk]), {"decision": "approve"})
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert Adjustment.objects.get(pk=adjustment.pk).status == "pending"


def test_a_second_decision_is_a_form_error(client, operator, approver, threshold_1000) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    request_adjustment(client, member, 5000)
    adjustment = Adjustment.objects.get(member=member)
    client.force_login(approver)
    url = reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk])
    client.post(url, {"decision": "approve"})
    again = client.post(url, {"decision": "reject"})
    assert again.status_code == 200 and again.context["form"].non_field_errors()
    assert Adjustment.objects.get(pk=adjustment.pk).status == "applied"
    assert account_of(member).balance == 5000


def test_approving_a_deduction_the_member_can_no_longer_cover_is_a_form_error(  # type: ignore[no-untyped-def]
    client, operator, approver, threshold_1000
) -> None:
    member = new_member()
    give(member, 3000)
    client.force_login(operator)
    request_adjustment(client, member, -2000)
    adjustment = Adjustment.objects.get(member=member, status="pending")
    request_adjustment(client, member, -999)
    request_adjustment(client, member, -999)  # 1,002 P left
    client.force_login(approver)
    response = client.post(reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk]), {"decision": "approve"})
    assert response.status_code == 200
    assert "1,002" in " ".join(response.context["form"].non_field_errors())
    assert Adjustment.objects.get(pk=adjustment.pk).status == "pending"
    assert account_of(member).balance == 1002


def test_adjustments_are_never_edited_or_deleted_in_the_admin(client) -> None:  # type: ignore[no-untyped-def]
    boss = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1234")
    member = new_member()
    client.force_login(boss)
    request_adjustment(client, member, 10)
    adjustment = Adjustment.objects.get(member=member)
    change = client.post(reverse("admin:loyalty_adjustment_change", args=[adjustment.pk]), {"points": 99999})
    assert change.status_code == 403
    delete = client.post(reverse("admin:loyalty_adjustment_delete", args=[adjustment.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert Adjustment.objects.get(pk=adjustment.pk).points == 10


def test_a_reason_code_must_be_chosen(client, operator) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    client.force_login(operator)
    response = request_adjustment(client, member, 10, reason_code="")
    assert response.status_code == 200 and "reason_code" in response.context["form"].errors
    assert not Adjustment.objects.exists()
