"""Fifty tills redeem from one balance at the same instant: the row lock lets exactly the
balance through."""

from __future__ import annotations

import pytest

from loyalty import clock
from loyalty.errors import InsufficientPoints
from loyalty.models import Lot, Redemption
from loyalty.selectors import balance_summary
from loyalty.services import points_redeem
from tests.conftest import (
    account_of,
    assert_ledger_sound,
    errors_of,
    give,
    new_member,
    run_together,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_fifty_concurrent_redemptions_of_a_tenth_of_the_balance_let_exactly_ten_through():
    member = new_member()
    give(member, 10000)

    def redeem(index: int):
        return lambda: points_redeem(member=member, points=1000, order_id=f"till-{index}", order_amount="100000")

    results = run_together([redeem(i) for i in range(50)])

    succeeded = [r.value for r in results if r.error is None]
    refused = errors_of(results)
    assert len(succeeded) == 10
    assert len(refused) == 40
    assert all(isinstance(error, InsufficientPoints) for error in refused), refused
    assert all(outcome.created for outcome in succeeded)
    account = account_of(member)
    assert (account.balance, account.debt, account.version) == (0, 0, 11)
    assert balance_summary(account, clock.today()).available == 0
    assert not Lot.objects.filter(remaining__lt=0).exists()
    assert Redemption.objects.count() == 10
    assert sorted(o.data["balance"]["available"] for o in succeeded) == list(range(0, 10000, 1000))
    assert_ledger_sound()
