"""The audit and adjustment pages read a bounded number of queries, however many rows they show."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.admin import AuditEntryAdmin
from loyalty.models import ProgramPolicy
from loyalty.services import adjustment_request
from members.models import Tier
from tests.conftest import new_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1234")
    client.force_login(user)
    return user


def queries_for(client, url: str) -> int:  # type: ignore[no-untyped-def]
    client.get(url)  # warm: content types, session
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


def add_requests(count: int, requester) -> None:  # type: ignore[no-untyped-def]
    for _ in range(count):
        adjustment_request(member=new_member(), points=50_000, reason="보상", requested_by=requester)


@pytest.mark.parametrize("url_name", ["admin:loyalty_adjustment_changelist", "admin:loyalty_adjustment_pending",
                                      "admin:auditlog_logentry_changelist"])
def test_the_list_pages_do_not_grow_with_their_rows(client, boss, url_name) -> None:  # type: ignore[no-untyped-def]
    ProgramPolicy.objects.filter(pk=1).update(adjustment_approval_threshold=100)
    add_requests(3, boss)
    few = queries_for(client, reverse(url_name))
    add_requests(6, boss)
    assert queries_for(client, reverse(url_name)) == few


def test_an_objects_history_page_does_not_grow_with_its_changes(client, boss) -> None:  # type: ignore[no-untyped-def]
    member = new_member()
    tiers = [Tier.objects.create(code=f"h{i}", name=f"h{i}", rank=20 + i, threshold=1000 * (i + 1)) for i in range(6)]
    url = reverse("admin:members_tier_history", args=[tiers[0].pk])
    for tier in tiers[:2]:
        member.tier = tier
        member.save()
    member_url = reverse("admin:auditlog_logentry_change", args=[LogEntry.objects.first().pk])
    few = queries_for(client, url)
    for tier in tiers[2:]:
        member.tier = tier
        member.save()
        tier.earn_multiplier = 2
        tier.save()
    assert queries_for(client, url) == few
    assert queries_for(client, member_url) <= few + 2


def test_the_audit_search_finds_by_name_id_key_and_staff(client, boss) -> None:  # type: ignore[no-untyped-def]
    member = new_member(name="검색대상")
    new_member(name="다른사람")
    url = reverse("admin:auditlog_logentry_changelist")

    def found(term: str) -> set[str]:
        return {entry.object_repr for entry in client.get(url, {"q": term}).context["cl"].result_list}

    assert found("검색대상") == {str(member)}
    assert found(str(member.pk)) >= {str(member)}
    assert found("nobody-like-this") == set()


@pytest.mark.postgres
def test_the_audit_search_is_served_by_indexes_on_postgresql(rf, boss) -> None:  # type: ignore[no-untyped-def]
    from django.contrib import admin

    model_admin = AuditEntryAdmin(LogEntry, admin.site)
    queryset, _ = model_admin.get_search_results(rf.get("/"), LogEntry.objects.all(), "김단골")
    sql, params = queryset.order_by().query.sql_with_params()  # the indexes, not the ordering, are the question
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_logentry_repr_trgm" in plan, plan
    assert "audit_logentry_api_key" in plan, plan
