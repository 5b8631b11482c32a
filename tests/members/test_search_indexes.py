"""The admin's member searches use their indexes on PostgreSQL, shown by EXPLAIN.

Forty thousand members are enough that the planner would read the table without the
trigram index (the test drops it inside its transaction to show that, then the rollback
puts it back). The rows are written in one ``INSERT … SELECT``: they are identity rows,
not ledger state, and the test is about the planner.
"""

from __future__ import annotations

import pytest
from django.db import connection

from loyalty.admin.members import search_filter
from members.models import Member
from members.services import base_tier

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROWS = 40_000
SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
SYLLABLES = "민서준지현우예도하윤은수아진영호연주성경태시재유나가다라마바사자차카타파"


@pytest.fixture
def many_members() -> None:
    tier = base_tier()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (external_id, name, phone, email, channel, marketing_sms, marketing_email,
                                        status, referral_code, joined_at, updated_at, tier_id)
            SELECT 'IX' || n,
                   substr(%(sur)s, 1 + n %% 20, 1) || substr(%(syl)s, 1 + (n / 20) %% 40, 1)
                       || substr(%(syl)s, 1 + (n / 800) %% 40, 1),
                   '010' || lpad(((n * 7919) %% 100000000)::text, 8, '0'), 'ix' || n || '@example.com',
                   'online', false, false, 'active', 'IX' || n, now() - n * interval '1 minute', now(), %(tier)s
            FROM generate_series(1, %(rows)s) n
            """,
            {"sur": SURNAMES, "syl": SYLLABLES, "rows": ROWS, "tier": tier.pk},
        )
        # Rows inserted into a GIN index wait in its pending list until a VACUUM; move them
        # into the index proper, as autovacuum would have done by the time anyone searches.
        for index in ("members_member_name_upper_trgm", "members_member_phone_trgm"):
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute("ANALYZE members_member")


def admin_search_plan(term: str) -> str:
    """The plan of the changelist's page query for ``term`` (ordering and page size as the admin's)."""
    lookup = search_filter(term)
    assert lookup is not None
    queryset = Member.objects.filter(lookup).select_related("tier").order_by("-joined_at", "-id")[:51]
    return queryset.explain()


@pytest.mark.parametrize(
    ("term", "index"),
    [("김연진", "members_member_name_upper_trgm"), ("5678", "members_member_phone_trgm")],
)
def test_a_korean_name_or_a_phone_ending_is_found_through_its_trigram_index(many_members, term, index):
    assert index in admin_search_plan(term), admin_search_plan(term)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {index}")  # rolled back with the test's transaction
    assert index not in admin_search_plan(term)
    assert "Seq Scan on members_member" in admin_search_plan(term) or "Filter:" in admin_search_plan(term)


def test_a_full_phone_an_email_and_an_external_id_match_exactly_on_their_b_trees(many_members):
    for term in ("010-1234-5678", "ix77@example.com"):
        plan = admin_search_plan(term)
        assert "Index" in plan and "Seq Scan on members_member" not in plan, plan
