"""Expiry: lots past their date lose what remains.

Balances never wait for this: a lot past ``expires_on`` is not spendable anyway. The task
writes the entries so the ledger and the liability say what happened. ``account_expire_due``
expires one account in a transaction of its own (the reference); the nightly run expires a
range of accounts per transaction through the ledger's batch door (``points_expire_chunk``),
which writes exactly the same rows, so ranges are independent chunks that several workers
can take at once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from .. import clock
from ..ledger import (
    Locked,
    Replayed,
    durable,
    expiries_post,
    expiry_key,
    expiry_request,
    operation_begin,
)
from ..models import Account, EntryKind, EntrySource, Lot, OperationKind, SystemAccount
from .chunks import id_ranges
from .grants import ChunkResult
from .outcome import Outcome

EXPIRY_CHUNK_ACCOUNTS = 5000


def expiry_description(expires_on: date) -> str:
    return _("Points expired on %(date)s") % {"date": expires_on.isoformat()}


@durable
def account_expire_due(*, member_id: int, today: date | None = None) -> Outcome:
    """Expire this member's lots whose ``expires_on`` is on or before ``today``.

    The key holds the account version, so a replay on an unchanged account does nothing,
    while points restored into an expired lot later are caught by the next run.
    """
    today = today or clock.today()
    # The key holds the version the lock reads: it is set once the lock has read it.
    door = operation_begin(kind=OperationKind.EXPIRE, key=None, request=None, lock=[member_id], today=today)
    assert not isinstance(door, Replayed)  # no key, no replay
    return _account_expire(door, member_id, today)


def _account_expire(door: Locked, member_id: int, today: date) -> Outcome:
    account, posting = door.account(member_id), door.posting
    lots = posting.lots_read(
        Lot.objects.filter(account=account, remaining__gt=0, expires_on__lte=today).order_by("expires_on", "id")
    )
    if not lots:
        return Outcome({"points": 0}, created=False)
    posting.keyed(expiry_key(account.pk, account.version, today), expiry_request(account.pk, today))
    by_date: dict[date, int] = defaultdict(int)
    for lot in lots:
        assert lot.expires_on is not None
        by_date[lot.expires_on] += lot.remaining
    total = posting.lots_take(lots, sum(by_date.values()))
    for expires_on, points in sorted(by_date.items()):
        posting.move(
            account, -points, kind=EntryKind.EXPIRE, source=EntrySource.SYSTEM,
            counter=SystemAccount.EXPIRED, reference=expires_on.isoformat(),
            description=expiry_description(expires_on),
        )
    result: dict[str, Any] = {"points": total, "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)


@durable
def points_expire_chunk(*, account_id_from: int, account_id_to: int, today: date) -> ChunkResult:
    """Expire the due lots of the member accounts with ids in ``[account_id_from, account_id_to)``
    in one transaction, writing per account what :func:`account_expire_due` writes.

    A chunk is independent of every other (its own accounts, locked in id order) and safe to
    run twice or by two workers at once: the second finds nothing due.
    """
    if connection.vendor == "postgresql":
        done = expiries_post(account_id_from=account_id_from, account_id_to=account_id_to, today=today,
                             describe=expiry_description)
        return ChunkResult(members=len(done), points=sum(d.points for d in done))
    members = points = 0  # elsewhere (SQLite): account by account, in this one transaction
    due = (Account.objects.filter(pk__gte=account_id_from, pk__lt=account_id_to, member__isnull=False,
                                  lots__remaining__gt=0, lots__expires_on__lte=today)
           .order_by("pk").values_list("member_id", flat=True).distinct())
    for member_id in list(due):
        door = operation_begin(kind=OperationKind.EXPIRE, key=None, request=None, lock=[member_id], today=today)
        assert not isinstance(door, Replayed)
        outcome = _account_expire(door, member_id, today)
        if outcome.created:
            members, points = members + 1, points + outcome.data["points"]
    return ChunkResult(members=members, points=points)


def expiry_chunks(*, size: int = EXPIRY_CHUNK_ACCOUNTS) -> list[tuple[int, int]]:
    """The account id ranges ``[from, to)`` a nightly expiry is split into (member accounts)."""
    return id_ranges(Account.objects.filter(member__isnull=False), size)


def points_expire_due(*, today: date | None = None, batch_size: int = EXPIRY_CHUNK_ACCOUNTS) -> int:
    """Expire every due lot, a range of accounts per transaction; returns the points expired."""
    today = today or clock.today()
    return sum(points_expire_chunk(account_id_from=start, account_id_to=end, today=today).points
               for start, end in expiry_chunks(size=batch_size))
