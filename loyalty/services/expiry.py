"""Expiry: lots past their date lose what remains, one account (one transaction) at a time.

Balances never wait for this: a lot past ``expires_on`` is not spendable anyway. The task
writes the entries so the ledger and the liability say what happened.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from .. import clock
from ..ledger import Replayed, durable, operation_begin
from ..models import Account, EntryKind, EntrySource, Lot, OperationKind, SystemAccount
from .outcome import Outcome


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
    account, posting = door.account(member_id), door.posting
    lots = posting.lots_read(
        Lot.objects.filter(account=account, remaining__gt=0, expires_on__lte=today).order_by("expires_on", "id")
    )
    if not lots:
        return Outcome({"points": 0}, created=False)
    posting.keyed(f"expire:{account.pk}:v{account.version}:{today.isoformat()}",
                  {"account": account.pk, "today": today})
    by_date: dict[date, int] = defaultdict(int)
    for lot in lots:
        assert lot.expires_on is not None
        by_date[lot.expires_on] += lot.remaining
    total = posting.lots_take(lots, sum(by_date.values()))
    for expires_on, points in sorted(by_date.items()):
        posting.move(
            account, -points, kind=EntryKind.EXPIRE, source=EntrySource.SYSTEM,
            counter=SystemAccount.EXPIRED, reference=expires_on.isoformat(),
            description=_("Points expired on %(date)s") % {"date": expires_on.isoformat()},
        )
    result: dict[str, Any] = {"points": total, "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)


def points_expire_due(*, today: date | None = None, batch_size: int = 1000) -> int:
    """Expire every due lot, one member at a time; returns the points expired."""
    today = today or clock.today()
    total = 0
    last_id = 0
    while True:
        member_ids = list(
            Account.objects.filter(
                pk__gt=last_id, member__isnull=False,
                lots__remaining__gt=0, lots__expires_on__lte=today,
            ).order_by("pk").values_list("pk", "member_id").distinct()[:batch_size]
        )
        if not member_ids:
            return total
        for account_id, member_id in member_ids:
            total += account_expire_due(member_id=member_id, today=today).data["points"]
            last_id = account_id
