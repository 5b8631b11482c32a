"""A grant to a chunk of members: once per member, through the batch door, as the per-member door writes it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from loyalty.ledger import CREDIT_BOOKED, CREDIT_CONFLICT, CREDIT_REFUSED, CREDIT_REPLAYED, CreditRow, credits_post
from loyalty.models import EntrySource, LedgerEntry, Lot, OperationKind, SystemAccount
from loyalty.services import points_redeem, purchase_refund
from loyalty.services.grants import ChunkResult, points_grant_chunk
from members.models import Member, MemberStatus
from tests.conftest import (
    account_of,
    assert_ledger_sound,
    buy,
    errors_of,
    give,
    new_member,
    run_together,
    unique,
)
from tests.loyalty.batch_rows import Rollback, ledger_rows

pytestmark = pytest.mark.django_db


def a_member_in_debt(frozen_clock: Any, debt_order: str | None = None) -> Member:
    member = new_member()
    order = debt_order or unique("debt-order")
    buy(member, "100000", order_id=order, occurred_at=frozen_clock.days_ago(8))
    points_redeem(member=member, points=1000, order_id=unique("pay"), order_amount="10000000")
    purchase_refund(order_id=order, refund_id=unique("debt-refund"), amount="100000")  # a debt of 1,000
    return member


def world(frozen_clock: Any) -> list[Member]:
    fresh = new_member()
    holding = new_member()
    give(holding, 700)
    pending = new_member()
    buy(pending, "50000")
    indebted = a_member_in_debt(frozen_clock)
    suspended = new_member()
    Member.objects.filter(pk=suspended.pk).update(status=MemberStatus.SUSPENDED)
    return [fresh, holding, pending, indebted, suspended]


def grant_rows(members: list[Member], points: list[int], prefix: str) -> list[CreditRow]:
    return [CreditRow(member_id=m.pk, key=f"{prefix}:{m.pk}", request={"grant": prefix, "points": p}, points=p,
                      result={"grant": prefix, "points": p}, reference=prefix)
            for m, p in zip(members, points, strict=True)]


def post(rows: list[CreditRow], frozen_clock: Any, set_based: bool, **kwargs: Any) -> list[Any]:
    options: dict[str, Any] = dict(kind=OperationKind.CAMPAIGN, source=EntrySource.CAMPAIGN,
                                   counter=SystemAccount.ISSUED, description="Christmas gift",
                                   available_on=frozen_clock.today, expires_on=None)
    options.update(kwargs)
    return credits_post(rows, set_based=set_based, **options)


@pytest.mark.postgres
@pytest.mark.parametrize("available_in", [0, 7], ids=["available-at-once", "pending-a-week"])
def test_the_set_based_door_writes_what_the_per_member_door_writes(frozen_clock, available_in):
    """Run set-based, keep what it wrote, roll it back, run through ``operation_begin`` per member: the same rows."""
    from datetime import timedelta

    members = world(frozen_clock)
    rows = grant_rows(members, [300, 1500, 200, 400, 100], unique("xmas"))
    when = {"available_on": frozen_clock.today + timedelta(days=available_in),
            "expires_on": frozen_clock.today + timedelta(days=90)}
    with pytest.raises(Rollback), transaction.atomic():
        set_based = [r.status for r in post(rows, frozen_clock, True, **when)]
        batch = ledger_rows(members, OperationKind.CAMPAIGN)
        assert_ledger_sound()
        raise Rollback
    with transaction.atomic():
        one_by_one = [r.status for r in post(rows, frozen_clock, False, **when)]
    assert set_based == one_by_one == [CREDIT_BOOKED] * 4 + [CREDIT_REFUSED]
    assert ledger_rows(members, OperationKind.CAMPAIGN) == batch
    assert_ledger_sound()


@pytest.mark.parametrize("set_based", [
    pytest.param(True, marks=pytest.mark.postgres, id="set-based"),
    pytest.param(False, id="row-by-row"),
])
def test_a_key_done_before_is_a_replay_and_with_other_points_a_conflict(frozen_clock, set_based):
    member, other = new_member(), new_member()
    prefix = unique("gift")
    with transaction.atomic():
        post(grant_rows([member, other], [100, 100], prefix), frozen_clock, set_based)
    with transaction.atomic():
        again = post(grant_rows([member, other], [100, 250], prefix), frozen_clock, set_based)
    assert [r.status for r in again] == [CREDIT_REPLAYED, CREDIT_CONFLICT]
    assert again[0].stored is not None and again[0].stored["points"] == 100
    assert (account_of(member).balance, account_of(other).balance) == (100, 100)
    assert_ledger_sound()


def test_a_grant_credits_each_member_once_and_counts_replays_and_refusals(frozen_clock, sound_ledger):
    members = [new_member() for _ in range(3)]
    merged = new_member()
    Member.objects.filter(pk=merged.pk).update(status=MemberStatus.MERGED)
    ids = [m.pk for m in [*members, merged]]
    first = points_grant_chunk(member_ids=ids, points=500, key_prefix="campaign-7:run-1", description="Welcome gift",
                               validity_days=30)
    assert first == ChunkResult(members=3, points=1500, replayed=0, refused=1)
    second = points_grant_chunk(member_ids=ids, points=500, key_prefix="campaign-7:run-1", description="Welcome gift",
                                validity_days=30)
    assert second == ChunkResult(members=0, points=0, replayed=3, refused=1)
    for member in members:
        assert account_of(member).balance == 500
        (lot,) = Lot.objects.filter(account__member=member)
        assert (lot.source, lot.available_on, (lot.expires_on - frozen_clock.today).days) == (
            EntrySource.CAMPAIGN, frozen_clock.today, 30)
        entry = LedgerEntry.objects.get(account__member=member)
        assert (entry.description, entry.reference, entry.source) == (
            "Welcome gift", "campaign-7:run-1", EntrySource.CAMPAIGN)
    assert account_of(merged).balance == 0


def test_a_grant_repays_a_debt_first(frozen_clock, sound_ledger):
    member = a_member_in_debt(frozen_clock)
    assert points_grant_chunk(member_ids=[member.pk], points=1500, key_prefix=unique("g"),
                              description="Gift") == ChunkResult(members=1, points=1500)
    account = account_of(member)
    assert (account.balance, account.debt) == (500, 0)


def test_a_member_known_only_to_members_gets_an_account_and_the_grant(frozen_clock, sound_ledger):
    from members.services import member_upsert

    member = member_upsert(external_id=unique("identity-only"), name="Kim").member
    assert points_grant_chunk(member_ids=[member.pk], points=10, key_prefix=unique("g"),
                              description="Gift").members == 1
    assert account_of(member).balance == 10


@pytest.mark.postgres
def test_the_grant_sends_the_same_statements_for_ten_members_or_two_hundred(frozen_clock):
    def statements(count: int) -> int:
        ids = [new_member().pk for _ in range(count)]
        with CaptureQueriesContext(connection) as queries:
            points_grant_chunk(member_ids=ids, points=10, key_prefix=unique("g"), description="Gift")
        return len(queries)

    statements(1)
    assert statements(10) == statements(200) <= 8
    assert_ledger_sound()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_the_same_chunk_run_by_two_workers_at_once_credits_each_member_once():
    ids = [new_member().pk for _ in range(30)]
    work = [lambda: points_grant_chunk(member_ids=ids, points=100, key_prefix="race", description="Gift")
            for _ in range(2)]
    results = run_together(work)
    assert errors_of(results) == []
    outcomes = sorted((r.value.members, r.value.replayed) for r in results)
    assert outcomes == [(0, 30), (30, 0)]
    assert LedgerEntry.objects.filter(source=EntrySource.CAMPAIGN, version__isnull=False).count() == 30
    assert_ledger_sound()


def test_then_runs_in_the_grants_transaction_with_the_members_credited_now() -> None:
    """What the caller records about the credited members (a campaign's awards) commits with
    their points or not at all: a failure in ``then`` leaves no points either."""
    first, second, closed = new_member(), new_member(), new_member()
    Member.objects.filter(pk=closed.pk).update(status=MemberStatus.WITHDRAWN)
    points_grant_chunk(member_ids=[first.pk], points=10, key_prefix="then-grant", description="gift")

    class Boom(Exception):
        pass

    def fail(members: list[int]) -> None:
        raise Boom(members)

    with pytest.raises(Boom) as raised:
        points_grant_chunk(member_ids=[first.pk, second.pk, closed.pk], points=10, key_prefix="then-grant",
                           description="gift", then=fail)
    assert raised.value.args[0] == [second.pk]  # booked now: not the replay, not the closed member
    assert account_of(second).balance == 0 and not LedgerEntry.objects.filter(account=account_of(second)).exists()
    seen: list[list[int]] = []
    done = points_grant_chunk(member_ids=[first.pk, second.pk, closed.pk], points=10, key_prefix="then-grant",
                              description="gift", then=seen.append)
    assert seen == [[second.pk]] and done == ChunkResult(members=1, points=10, replayed=1, refused=1)
    assert account_of(second).balance == 10


def test_accounts_open_writes_the_row_bulk_create_writes(ledger_written_by_hand: None) -> None:
    """The PostgreSQL path of ``accounts_open`` names its columns; the ORM path takes the model's
    defaults. Both must write the same account (a column added later shows up here)."""
    from django.forms.models import model_to_dict

    from loyalty.ledger import accounts_open
    from loyalty.models import Account

    by_statement, by_orm = new_member(), new_member()
    Account.objects.filter(member__in=[by_statement, by_orm]).delete()  # identities written alone
    accounts_open([by_statement.pk, by_statement.pk])
    accounts_open([by_statement.pk])  # already open: nothing, no error
    Account.objects.bulk_create([Account(member_id=by_orm.pk)])
    ignored = {"id", "member", "created_at"}
    written = model_to_dict(Account.objects.get(member=by_statement), exclude=list(ignored))
    assert written == model_to_dict(Account.objects.get(member=by_orm), exclude=list(ignored))
    assert {f.name for f in Account._meta.concrete_fields} - ignored == set(written)
    assert Account.objects.filter(member=by_statement).count() == 1
