"""Redemption at the till stays a fixed, small number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.ledger import system_account_id
from loyalty.models import SystemAccount
from tests.conftest import give, new_member, reload, spend

pytestmark = pytest.mark.django_db

# Measured: 16 statements plus the savepoint and its release the test transaction adds,
# with the system account ids already cached (as they are in a running process).
REDEEM_QUERY_BUDGET = 19


@pytest.fixture(autouse=True)
def _system_account_ids_cached():
    for code in SystemAccount:
        system_account_id(code)


def member_with_lots(count: int):
    member = new_member()
    for index in range(count):
        give(member, 300, validity_days=30 + index)
    return reload(member)


def test_redeeming_across_a_few_lots_stays_within_the_query_budget(frozen_clock, django_assert_max_num_queries):
    member = member_with_lots(5)
    with django_assert_max_num_queries(REDEEM_QUERY_BUDGET):
        spend(member, 1200)


def test_the_queries_of_a_redemption_do_not_grow_with_the_lots_it_uses(frozen_clock):
    counts = []
    for lots in (4, 40):
        member = member_with_lots(lots)
        with CaptureQueriesContext(connection) as queries:
            spend(member, 1200 if lots == 4 else 11000)
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
