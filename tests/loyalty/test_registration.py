"""member_register: the member (through the members service) and its points account, together."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.models import Account
from loyalty.services import member_register, points_adjust
from members.models import Member
from members.services import member_upsert

pytestmark = pytest.mark.django_db


def test_registering_a_member_opens_its_account_once():
    first = member_register(external_id="reg-1", name="이영희", phone="010-2222-3333")
    again = member_register(external_id="reg-1", name="이영희", email="yh@example.com")
    assert first.created and not again.created
    assert Account.objects.filter(member=first.member).count() == 1
    assert again.member.phone == "01022223333" and again.member.email == "yh@example.com"


def test_an_update_writes_only_what_changed_and_reads_the_member_once():
    member_register(external_id="reg-2", name="김단골", phone="010-1111-2222")
    with CaptureQueriesContext(connection) as queries:
        member_register(external_id="reg-2", name="김단골", email="new@example.com")
    sql = [q["sql"] for q in queries.captured_queries]
    updates = [q for q in sql if q.startswith('UPDATE "members_member"')]
    assert len(updates) == 1 and '"email"' in updates[0] and '"phone"' not in updates[0], sql
    assert len([q for q in sql if 'FROM "members_member"' in q]) == 1, sql


def test_a_member_written_as_identity_only_gets_its_account_at_its_first_points():
    member = member_upsert(external_id="reg-3", name="박신원").member
    assert not Account.objects.filter(member=member).exists()
    outcome = points_adjust(member=member, points=500, reason="welcome", key="reg-3-welcome")
    assert outcome.data["balance"] == {"available": 500, "pending": 0}
    assert Account.objects.get(member=member).balance == 500
    assert Member.objects.get(pk=member.pk).external_id == "reg-3"


def test_a_member_without_an_account_yet_reads_as_empty_over_the_api(api_client_for_reads):
    member_upsert(external_id="reg-4", name="김신원")
    balance = api_client_for_reads.get("/api/v1/members/reg-4/balance")
    history = api_client_for_reads.get("/api/v1/members/reg-4/transactions")
    assert (balance.status_code, balance.json()["available"], balance.json()["pending"]) == (200, 0, 0)
    assert (history.status_code, history.json()["results"]) == (200, [])


@pytest.fixture
def api_client_for_reads():
    from tests.api.conftest import Api, api_key_create

    return Api(f"Api-Key {api_key_create(name='reads', scopes=['members:read']).plaintext}")
