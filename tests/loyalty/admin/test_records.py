"""The ledger's admin lists: read-only for everyone, no full count, exact searches, bounded queries."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.admin.readonly import EstimatedCountPaginator
from loyalty.models import Account, Activity, LedgerEntry, Lot, Operation, Purchase, Redemption, Refund
from loyalty.services import purchase_refund
from tests.conftest import act, buy, give, new_member, spend, unique

pytestmark = pytest.mark.django_db

RECORDS = [Account, LedgerEntry, Lot, Operation, Purchase, Refund, Redemption, Activity]
LISTS = [f"/admin/loyalty/{model._meta.model_name}/" for model in RECORDS]


@pytest.fixture
def superuser(client):  # type: ignore[no-untyped-def]
    user = User.objects.create_superuser("ops-super", "ops@example.com", "pw-for-tests-1")
    client.force_login(user)
    return user


def ledger_with(members: int) -> list:  # type: ignore[type-arg]
    """``members`` members, each with a purchase, a review, a credit, a redemption and a refund."""
    made = []
    for _ in range(members):
        member = new_member()
        order_id = unique("order")
        buy(member, 200_000, order_id=order_id)
        act(member, "review")
        give(member, 2000)  # purchase points are pending for a week
        spend(member, 1000)
        purchase_refund(order_id=order_id, refund_id=unique("refund"), amount="10000")
        made.append(member)
    return made


def sql_of(captured: CaptureQueriesContext) -> str:
    return "\n".join(query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize("model", RECORDS, ids=lambda model: model.__name__)
def test_nobody_may_add_change_or_delete_ledger_records_not_even_a_superuser(client, superuser, rf, model):
    ledger_with(1)
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = superuser
    row = model.objects.order_by("pk").first()
    assert model_admin.has_view_permission(request, row)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    # reading out (the export of ledger entries) is the only action: not even "delete selected"
    assert set(model_admin.get_actions(request)) <= {"export_rows_action"}
    base = f"/admin/loyalty/{model._meta.model_name}/"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}{row.pk}/change/").status_code == 200  # a read-only page
    assert client.get(f"{base}add/").status_code == 403
    assert client.get(f"{base}{row.pk}/delete/").status_code == 403
    assert client.post(f"{base}{row.pk}/change/", {}).status_code == 403


@pytest.mark.parametrize("path", LISTS)
def test_a_list_costs_the_same_queries_for_two_members_and_for_ten(client, superuser, path):
    ledger_with(2)
    client.get(path)  # warm the per-process caches (content types, policy)
    with CaptureQueriesContext(connection) as few:
        assert client.get(path).status_code == 200
    ledger_with(8)
    with CaptureQueriesContext(connection) as many:
        assert client.get(path).status_code == 200
    assert len(many) == len(few), sql_of(many)
    assert len(many) <= 6, sql_of(many)  # session, user, count, rows (+ up to two lookups)


def test_a_small_unfiltered_list_is_counted_with_a_cap_never_a_full_count(client, superuser):
    ledger_with(3)
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/admin/loyalty/ledgerentry/").content.decode()
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 1001" in sql for sql in counts), counts
    assert f"{LedgerEntry.objects.count()} " in page


@pytest.mark.postgres
def test_a_big_unfiltered_list_shows_the_planner_estimate_and_counts_nothing(client, superuser, monkeypatch):
    ledger_with(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loyalty_ledgerentry")
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_from", 1)
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/admin/loyalty/ledgerentry/").content.decode()
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "reltuples" in sql_of(captured)
    assert "(an estimate)" in page or "(추정치)" in page


def test_a_filtered_list_counts_at_most_the_cap_and_says_so(client, superuser, monkeypatch):
    member = ledger_with(1)[0]
    for _ in range(3):
        buy(member, 10_000)
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 2)
    page = client.get("/admin/loyalty/ledgerentry/", {"q": member.external_id}).content.decode()
    assert re.search(r"2 or more|2건 이상", page), page[-2000:]  # under the list
    assert re.search(r"2 or more results|결과 2개 이상", page)  # beside the search box


def test_pages_stop_at_the_page_limit(client, superuser, monkeypatch):
    ledger_with(2)
    monkeypatch.setattr(EstimatedCountPaginator, "max_pages", 2)
    monkeypatch.setattr(admin.site._registry[LedgerEntry], "list_per_page", 2)
    assert client.get("/admin/loyalty/ledgerentry/", {"p": 2}).status_code == 200
    # Page 3 is beyond what the list offers: Django's admin answers with its "bad page" redirect.
    assert client.get("/admin/loyalty/ledgerentry/", {"p": 3}).status_code == 302


def test_a_ledger_search_by_order_id_is_an_equality_not_a_pattern(client, superuser):
    member = new_member()
    buy(member, 10_000, order_id="ORD-1")
    buy(member, 10_000, order_id="ORD-10")  # would match "ORD-1" under icontains
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/admin/loyalty/ledgerentry/", {"q": "ORD-1"}).content.decode()
    sql = sql_of(captured)
    assert "LIKE" not in sql.upper() and "UPPER(" not in sql.upper()
    assert '"order_id" = ' in sql
    shown = set(re.findall(r"<td class=\"field-order_id\">([^<]*)</td>", page))
    assert shown == {"ORD-1"}


def test_a_ledger_search_finds_a_refund_id_a_member_and_an_entry_id(client, superuser):
    member, other = ledger_with(2)
    refund = Refund.objects.get(purchase__member=member)
    found = client.get("/admin/loyalty/ledgerentry/", {"q": refund.refund_id}).context["cl"].result_list
    assert {entry.operation_id for entry in found} == {refund.operation_id}

    found = client.get("/admin/loyalty/ledgerentry/", {"q": member.external_id}).context["cl"].result_list
    assert {entry.account_id for entry in found} == {Account.objects.get(member=member).pk}

    entry = LedgerEntry.objects.filter(account__member=other).first()
    found = client.get("/admin/loyalty/ledgerentry/", {"q": str(entry.pk)}).context["cl"].result_list
    assert [row.pk for row in found] == [entry.pk]


@pytest.mark.parametrize(
    ("path", "term_of", "expected"),
    [
        ("purchase", lambda m: Purchase.objects.get(member=m).order_id, lambda m: {Purchase.objects.get(member=m).pk}),
        ("purchase", lambda m: m.external_id, lambda m: {Purchase.objects.get(member=m).pk}),
        ("refund", lambda m: Refund.objects.get(purchase__member=m).refund_id,
         lambda m: {Refund.objects.get(purchase__member=m).pk}),
        ("refund", lambda m: Purchase.objects.get(member=m).order_id,
         lambda m: {Refund.objects.get(purchase__member=m).pk}),
        ("redemption", lambda m: Redemption.objects.get(member=m).order_id,
         lambda m: {Redemption.objects.get(member=m).pk}),
        ("activity", lambda m: Activity.objects.get(member=m).reference, lambda m: {Activity.objects.get(member=m).pk}),
        ("operation", lambda m: Purchase.objects.get(member=m).order_id,
         lambda m: {Purchase.objects.get(member=m).operation_id}),
        ("lot", lambda m: m.external_id,
         lambda m: set(Lot.objects.filter(account__member=m).values_list("pk", flat=True))),
        ("account", lambda m: m.external_id, lambda m: {Account.objects.get(member=m).pk}),
    ],
)
def test_every_ledger_list_finds_exactly_what_was_typed(client, superuser, path, term_of, expected):
    member, _other = ledger_with(2)
    response = client.get(f"/admin/loyalty/{path}/", {"q": term_of(member)})
    assert {row.pk for row in response.context["cl"].result_list} == expected(member)


@pytest.mark.postgres
def test_a_ledger_search_uses_indexes_only(superuser, rf):
    """EXPLAIN of the search's query on a table the planner is told is big: index scans, no seq scan."""
    member = ledger_with(1)[0]
    order_id = Purchase.objects.get(member=member).order_id
    request = rf.get("/", {"q": order_id})
    request.user = superuser
    model_admin = admin.site._registry[LedgerEntry]
    queryset, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), order_id)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the planner's choice at ten million rows
    plan = queryset.order_by().explain()
    assert "Seq Scan" not in plan, plan
    assert "order_id" in plan, plan
