"""What the batch tests compare: every row an operation wrote, without ids or recording times."""

from __future__ import annotations

from typing import Any

from loyalty.models import Account, LedgerEntry, Lot, LotMovement, Operation
from members.models import Member


def ledger_rows(members: list[Member], kind: str) -> dict[str, Any]:
    """The operations of ``kind`` on these members' accounts (their entries, lots and lot
    movements, accounts named by member) and the accounts' balance, debt and version.

    Ids and ``created_at`` are left out: the batch door and the service run one after the other
    (``created_at`` defaults to the real clock, which the frozen clock does not reach).
    """
    accounts = {a.pk: a.member_id for a in Account.objects.filter(member__in=members)}
    ops = Operation.objects.filter(kind=kind, entries__account_id__in=list(accounts)).distinct()

    def lot_of(lot: Lot | None) -> tuple[Any, ...] | None:
        if lot is None:
            return None
        return (accounts.get(lot.account_id), lot.source, lot.points, lot.remaining, lot.available_on,
                lot.expires_on, lot.moved_from_id)

    operations = []
    for op in ops.order_by("key"):
        entries = [
            (accounts.get(e.account_id, "system"), e.kind, e.source, e.points, e.balance_after, e.version,
             e.reference, e.order_id, e.description, e.internal_note, e.occurred_at, lot_of(e.lot))
            for e in LedgerEntry.objects.filter(operation=op).select_related("lot").order_by("id")
        ]
        lots = [lot_of(lot) for lot in Lot.objects.filter(operation=op).order_by("id")]
        movements = [(lot_of(m.lot), m.points)
                     for m in LotMovement.objects.filter(operation=op).select_related("lot").order_by("id")]
        operations.append((op.kind, op.key, op.fingerprint, op.result, op.actor_id, op.actor_label,
                           entries, lots, movements))
    balances = sorted((a.member_id, a.balance, a.debt, a.version) for a in Account.objects.filter(member__in=members))
    lots_now = sorted((accounts[lot.account_id], lot.source, lot.points, lot.remaining, lot.available_on,
                       str(lot.expires_on)) for lot in Lot.objects.filter(account_id__in=list(accounts)))
    return {"operations": operations, "accounts": balances, "lots": lots_now}


class Rollback(Exception):
    """Raised to undo a batch run inside ``transaction.atomic`` once its rows are read."""
