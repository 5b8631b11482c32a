"""Manual adjustments (a second person approves large ones) and opening balances."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from loyalty.errors import InsufficientPoints, InvalidRequest
from loyalty.models import Adjustment, EntryKind, LedgerEntry, ProgramPolicy, SystemAccount
from loyalty.services import adjustment_approve, adjustment_reject, adjustment_request, points_import_opening
from tests.conftest import LedgerSnapshot, account_of, buy, give, lots_of, new_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


@pytest.fixture
def staff():
    """A requester, and an approver holding ``loyalty.approve_adjustment``."""
    User = get_user_model()
    approver = User.objects.create_user("lee")
    approver.user_permissions.add(Permission.objects.get(codename="approve_adjustment"))
    return User.objects.create_user("kim"), User.objects.get(pk=approver.pk)


def test_a_small_adjustment_is_applied_at_once(staff, frozen_clock):
    requester, _ = staff
    member = new_member()
    adjustment = adjustment_request(member=member, points=500, reason="사과의 의미로", requested_by=requester)
    assert adjustment.status == Adjustment.Status.APPLIED
    assert adjustment.decided_by == requester
    assert account_of(member).balance == 500
    entry = LedgerEntry.objects.get(operation=adjustment.operation, account__member=member)
    assert (entry.kind, entry.description) == (EntryKind.ADJUST, "사과의 의미로")
    counter = LedgerEntry.objects.get(operation=adjustment.operation, account__member__isnull=True)
    assert counter.account.system_code == SystemAccount.ADJUSTED


def test_an_adjustment_above_the_threshold_waits_for_a_second_person(staff, frozen_clock):
    requester, approver = staff
    member = new_member()
    adjustment = adjustment_request(member=member, points=10000, reason="보상", requested_by=requester)
    assert adjustment.status == Adjustment.Status.PENDING
    assert account_of(member).version == 0
    with pytest.raises(InvalidRequest):
        adjustment_approve(adjustment_id=adjustment.pk, approver=requester)
    assert account_of(member).balance == 0
    approved = adjustment_approve(adjustment_id=adjustment.pk, approver=approver)
    assert (approved.status, approved.decided_by) == (Adjustment.Status.APPLIED, approver)
    assert account_of(member).balance == 10000


def test_a_decided_adjustment_cannot_be_decided_again(staff, frozen_clock):
    requester, approver = staff
    member = new_member()
    adjustment = adjustment_request(member=member, points=20000, reason="보상", requested_by=requester)
    adjustment_approve(adjustment_id=adjustment.pk, approver=approver)
    before = LedgerSnapshot.take()
    with pytest.raises(InvalidRequest):
        adjustment_approve(adjustment_id=adjustment.pk, approver=approver)
    with pytest.raises(InvalidRequest):
        adjustment_reject(adjustment_id=adjustment.pk, approver=approver)
    assert LedgerSnapshot.take() == before


def test_a_rejected_adjustment_moves_no_points(staff, frozen_clock):
    requester, approver = staff
    member = new_member()
    adjustment = adjustment_request(member=member, points=-15000, reason="오적립", requested_by=requester)
    rejected = adjustment_reject(adjustment_id=adjustment.pk, approver=approver)
    assert rejected.status == Adjustment.Status.REJECTED
    assert account_of(member).version == 0
    with pytest.raises(InvalidRequest):
        adjustment_approve(adjustment_id=adjustment.pk, approver=approver)


def test_the_threshold_is_the_programmes_setting(staff, frozen_clock):
    ProgramPolicy.objects.filter(pk=1).update(adjustment_approval_threshold=100)
    requester, _ = staff
    member = new_member()
    assert adjustment_request(member=member, points=99, reason="r", requested_by=requester).status == "applied"
    assert adjustment_request(member=member, points=-100, reason="r", requested_by=requester).status == "pending"


def test_a_negative_adjustment_cannot_take_more_than_the_member_holds(staff, frozen_clock):
    requester, _ = staff
    member = new_member()
    give(member, 300)
    before = LedgerSnapshot.take()
    with pytest.raises(InsufficientPoints):
        adjustment_request(member=member, points=-301, reason="회수", requested_by=requester)
    assert LedgerSnapshot.take() == before
    assert not Adjustment.objects.filter(points=-301).exists()


def test_a_negative_adjustment_takes_available_points_first_then_pending_ones(staff, frozen_clock):
    requester, _ = staff
    member = new_member()
    buy(member, "100000")  # 1,000 P pending, expires in 365 days
    give(member, 300, validity_days=400)  # available, expires later
    adjustment_request(member=member, points=-500, reason="회수", requested_by=requester)
    assert [lot.remaining for lot in lots_of(member)] == [800, 0]


@pytest.mark.parametrize("points", [0, 1.5, True])
def test_an_adjustment_needs_non_zero_integer_points_and_a_reason(staff, points):
    requester, _ = staff
    member = new_member()
    with pytest.raises(InvalidRequest):
        adjustment_request(member=member, points=points, reason="r", requested_by=requester)
    with pytest.raises(InvalidRequest):
        adjustment_request(member=member, points=100, reason="  ", requested_by=requester)


def test_an_opening_balance_is_booked_against_the_import_account_from_its_original_date(frozen_clock):
    member = new_member()
    occurred = frozen_clock.days_ago(100)
    outcome = points_import_opening(member=member, points=3000, source_label="old POS", occurred_at=occurred)
    assert outcome.created
    (lot,) = lots_of(member)
    assert lot.available_on == occurred.date()
    assert lot.expires_on == occurred.date() + timedelta(days=365)
    counter = LedgerEntry.objects.get(account__system_code=SystemAccount.IMPORTED)
    assert counter.points == -3000


def test_an_opening_balance_must_be_positive():
    member = new_member()
    with pytest.raises(InvalidRequest):
        points_import_opening(member=member, points=0)
