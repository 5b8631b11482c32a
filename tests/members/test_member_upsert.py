"""member_upsert: one member per shop id, phones normalized, no self-referral."""

from __future__ import annotations

import pytest

from loyalty.models import Account
from members.errors import InvalidMemberData
from members.models import Member, Tier, TierChange
from members.selectors import members_by_phone
from members.services import member_upsert
from tests.conftest import entry_tier, new_member

pytestmark = pytest.mark.django_db


def test_a_new_member_gets_a_points_account():
    member = new_member(external_id="shop-1")
    account = Account.objects.get(member=member)
    assert (account.balance, account.debt, account.version) == (0, 0, 0)


def test_the_phone_is_stored_as_national_digits_whatever_the_notation():
    member = new_member(phone="+82 10-1234-5678")
    assert member.phone == "01012345678"
    assert list(members_by_phone("010.1234.5678")) == [member]


def test_an_invalid_phone_is_refused_and_no_member_is_created():
    with pytest.raises(InvalidMemberData) as refused:
        member_upsert(external_id="shop-bad-phone", name="김철수", phone="12-34")
    assert "phone" in refused.value.errors
    assert not Member.objects.filter(external_id="shop-bad-phone").exists()


def test_upserting_the_same_shop_id_updates_the_member_and_keeps_what_was_not_sent():
    first = member_upsert(external_id="shop-7", name="이영희", phone="010-2222-3333", email="YH@Example.com")
    again = member_upsert(external_id="shop-7", name="이영희 ", email=None, phone=None)
    assert first.created and not again.created
    assert again.member.pk == first.member.pk
    assert again.member.email == "yh@example.com"
    assert again.member.phone == "01022223333"
    assert Member.objects.filter(external_id="shop-7").count() == 1
    assert not Account.objects.filter(member=first.member).exists()  # identity only: see member_register


def test_a_member_referred_by_another_records_the_referrer():
    referrer = new_member(phone="010-1111-2222")
    referee = new_member(phone="010-3333-4444", referrer_code=referrer.referral_code.lower())
    assert referee.referred_by_id == referrer.pk


def test_a_member_cannot_refer_themselves_with_the_same_phone_in_another_notation():
    referrer = new_member(phone="010-1111-2222")
    with pytest.raises(InvalidMemberData) as refused:
        member_upsert(external_id="second-account", name="홍길동", phone="+82 10 1111 2222",
                      referrer_code=referrer.referral_code)
    assert "referrer_code" in refused.value.errors
    assert not Member.objects.filter(external_id="second-account").exists()


def test_an_unknown_referral_code_is_refused():
    with pytest.raises(InvalidMemberData):
        new_member(referrer_code="NOPE1234")


def test_a_new_member_joins_the_entry_tier():
    entry = entry_tier("welcome", "Welcome")
    Tier.objects.create(code="gold", name="Gold", rank=1)
    member = new_member()
    assert member.tier == entry
    assert TierChange.objects.filter(member=member, to_tier=entry, reason=TierChange.Reason.JOINED).exists()
