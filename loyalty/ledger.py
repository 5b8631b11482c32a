"""The one door to the ledger: locks, idempotency, entries, lots.

Nothing else in the project creates :class:`LedgerEntry`, :class:`Lot` or
:class:`LotMovement` rows or changes an account's balance. Services open a durable
transaction, call :func:`accounts_lock` (member accounts, in id order), check the
idempotency key *after* the lock (a concurrent twin has committed by then), and post
through one :class:`Posting` per operation, whose entries net to zero.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet

from . import clock
from .errors import IdempotencyConflict
from .models import (
    Account,
    EntryKind,
    EntrySource,
    LedgerEntry,
    Lot,
    LotMovement,
    Operation,
    OperationKind,
    SystemAccount,
)

P = ParamSpec("P")
R = TypeVar("R")


def fingerprint(payload: Any) -> str:
    """A stable hash of a request, to tell a replay from a different request with the same key."""

    def default(value: Any) -> str:
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value)

    text = json.dumps(payload, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def replay(key: str, fingerprint_: str) -> dict[str, Any] | None:
    """The stored result of an operation already done with this key, or ``None``.

    Raises :class:`IdempotencyConflict` when the key was used for a different request.
    """
    found = Operation.objects.filter(key=key).values_list("fingerprint", "result").first()
    if found is None:
        return None
    if found[0] != fingerprint_:
        raise IdempotencyConflict(
            "This key was already used with a different request.", key=key
        )
    return dict(found[1])


def retry_on_key_race(func: Callable[P, R]) -> Callable[P, R]:
    """Run a durable service again once when a concurrent twin won the race to its key.

    Two requests with one key for *different* members do not queue on one account lock;
    the unique constraint on ``Operation.key`` stops the second, whose transaction is rolled
    back whole. Running it again finds the winner's operation and answers as a replay
    (or a conflict).
    """

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except IntegrityError:
            return func(*args, **kwargs)

    return wrapper


def accounts_lock(member_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the member accounts (``SELECT … FOR UPDATE``) in id order, keyed by member id.

    Locking in one global order means two operations on the same two accounts cannot
    deadlock. The balance is always checked after this call, never before.
    """
    ids = sorted(set(member_ids))
    # The member's status comes along (not locked: ``of=self``) so services can refuse a
    # member merged or withdrawn since they loaded it, without another query.
    accounts = list(
        Account.objects.select_for_update(of=("self",))
        .filter(member_id__in=ids)
        .annotate(member_status=F("member__status"))
        .order_by("id")
    )
    locked: dict[int, Account] = {account.member_id: account for account in accounts if account.member_id}
    missing = set(ids) - set(locked)
    if missing:
        raise Account.DoesNotExist(f"no points account for members {sorted(missing)}")
    return locked


_system_ids: dict[str, int] = {}


def system_account_id(code: SystemAccount) -> int:
    """Id of a system account (cached per process: they are created once, by a migration)."""
    if code not in _system_ids:
        _system_ids[code] = Account.objects.only("id").get(system_code=code).id
    return _system_ids[code]


def spendable_lots(account: Account, today: date, *, include_pending: bool = False) -> QuerySet[Lot]:
    """Open lots in spending order: soonest expiry first, never-expiring last.

    FIFO by expiry, not by creation: the points closest to expiry are worth least to the
    member, so they go first.
    """
    lots = Lot.objects.filter(account=account, remaining__gt=0).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gt=today)
    )
    if not include_pending:
        lots = lots.filter(available_on__lte=today)
    return lots.order_by(F("expires_on").asc(nulls_last=True), "available_on", "id")


def lot_heirs(lot: Lot, account: Account) -> list[Lot]:
    """The lots on ``account`` that hold what merges moved out of ``lot`` (directly or not)."""
    frontier: list[int] = [lot.pk]
    heirs: list[Lot] = []
    while frontier:
        children = list(Lot.objects.filter(moved_from_id__in=frontier).order_by("id"))
        heirs.extend(child for child in children if child.account_id == account.pk)
        frontier = [child.pk for child in children if child.account_id != account.pk]
    return heirs


def available_points(account: Account, today: date) -> int:
    """Spendable now: available, unexpired lot remainders less any debt."""
    total = sum(spendable_lots(account, today).values_list("remaining", flat=True))
    return total - account.debt


@dataclass
class Posting:
    """The entries, lots and movements of one operation, written together.

    Entries on member accounts advance the account's version by one each and carry the
    balance after; every member entry gets its counter-entry, so the operation nets to zero.
    """

    operation: Operation
    today: date = field(default_factory=lambda: clock.today())
    occurred_at: datetime = field(default_factory=lambda: clock.now())
    entries: list[LedgerEntry] = field(default_factory=list)
    touched: dict[int, Account] = field(default_factory=dict)
    written: int = 0

    @classmethod
    def open(
        cls,
        *,
        kind: OperationKind,
        key: str,
        fingerprint_: str,
        actor: Any = None,
        actor_label: str = "",
        occurred_at: datetime | None = None,
    ) -> Posting:
        operation = Operation.objects.create(
            kind=kind,
            key=key,
            fingerprint=fingerprint_,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor_label or (str(actor) if actor else ""),
        )
        return cls(operation=operation, occurred_at=occurred_at or clock.now())

    def move(
        self,
        account: Account,
        points: int,
        *,
        kind: EntryKind,
        source: EntrySource,
        counter: SystemAccount | Account,
        description: str = "",
        internal_note: str = "",
        reference: str = "",
        order_id: str = "",
        lot: Lot | None = None,
    ) -> LedgerEntry | None:
        """Move ``points`` into ``account`` (negative: out of it) against ``counter``."""
        if points == 0:
            return None
        entry = self._entry(
            account, points, kind=kind, source=source, description=description,
            internal_note=internal_note, reference=reference, order_id=order_id, lot=lot,
        )
        if isinstance(counter, Account):
            self._entry(
                counter, -points, kind=kind, source=source, description=description,
                internal_note=internal_note, reference=reference, order_id=order_id,
            )
        else:
            self.entries.append(
                LedgerEntry(
                    operation=self.operation, account_id=system_account_id(counter), kind=kind,
                    source=source, points=-points, reference=reference, order_id=order_id,
                    description=description, internal_note=internal_note,
                    occurred_at=self.occurred_at,
                )
            )
        return entry

    def _entry(self, account: Account, points: int, **fields: Any) -> LedgerEntry:
        if account.member_id is None:
            raise ValueError("member entries only; system accounts are counter-entries")
        account.version += 1
        account.balance += points
        self.touched[account.pk] = account
        entry = LedgerEntry(
            operation=self.operation, account=account, points=points,
            balance_after=account.balance, version=account.version,
            occurred_at=self.occurred_at, **fields,
        )
        self.entries.append(entry)
        return entry

    # Lots -------------------------------------------------------------------------

    def lot_create(
        self,
        account: Account,
        points: int,
        *,
        source: EntrySource,
        available_on: date,
        expires_on: date | None,
        moved_from: Lot | None = None,
    ) -> Lot:
        """A new lot; a debt left by a refund is repaid from it first, if it is available now.

        A pending lot repays nothing: repaying from it would turn points still inside their
        return window into spendable ones (the debt no longer held back from the rest).
        """
        repaid = min(account.debt, points) if available_on <= self.today else 0
        account.debt -= repaid
        self.touched[account.pk] = account
        lot = Lot.objects.create(
            account=account, operation=self.operation, source=source, points=points,
            remaining=points - repaid, available_on=available_on, expires_on=expires_on, moved_from=moved_from,
        )
        if repaid:
            LotMovement.objects.create(lot=lot, operation=self.operation, points=-repaid)
        return lot

    def lots_take(self, lots: Sequence[Lot], points: int) -> int:
        """Take up to ``points`` from ``lots`` in the given order; return how many were taken."""
        wanted = points
        changed: list[Lot] = []
        movements: list[LotMovement] = []
        for lot in lots:
            if wanted == 0:
                break
            take = min(lot.remaining, wanted)
            if take <= 0:
                continue
            lot.remaining -= take
            wanted -= take
            changed.append(lot)
            movements.append(LotMovement(lot=lot, operation=self.operation, points=-take))
        if changed:
            Lot.objects.bulk_update(changed, ["remaining"])
            LotMovement.objects.bulk_create(movements)
        return points - wanted

    def lots_restore(self, taken: Iterable[tuple[Lot, int]]) -> int:
        """Put points back into the lots they were taken from; return how many."""
        changed: list[Lot] = []
        movements: list[LotMovement] = []
        total = 0
        for lot, points in taken:
            if points <= 0:
                continue
            lot.remaining += points
            total += points
            changed.append(lot)
            movements.append(LotMovement(lot=lot, operation=self.operation, points=points))
        if changed:
            Lot.objects.bulk_update(changed, ["remaining"])
            LotMovement.objects.bulk_create(movements)
        return total

    def debt_add(self, account: Account, points: int) -> None:
        account.debt += points
        self.touched[account.pk] = account

    def debt_settle(self, account: Account) -> None:
        """Pay a debt from the account's available lots (after a merge brought both together)."""
        if account.debt <= 0:
            return
        paid = self.lots_take(list(spendable_lots(account, self.today)), account.debt)
        account.debt -= paid
        self.touched[account.pk] = account

    # Commit -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the entries posted so far and the accounts' new state.

        Services flush before reading what they just posted (a points-based tier counts the
        new earning); ``close`` flushes whatever is left.
        """
        pending = self.entries[self.written:]
        if sum(entry.points for entry in pending) != 0:
            raise AssertionError("an operation's entries must net to zero")
        LedgerEntry.objects.bulk_create(pending)
        self.written = len(self.entries)
        for account in self.touched.values():
            Account.objects.filter(pk=account.pk).update(
                balance=account.balance, version=account.version, debt=account.debt
            )
        self.touched = {}

    def close(self, result: dict[str, Any]) -> dict[str, Any]:
        """Write what is left, and store the result a replay will return."""
        self.flush()
        self.operation.result = result
        self.operation.save(update_fields=["result"])
        return result


def durable(func: Callable[P, R]) -> Callable[P, R]:
    """A top-level service: its own durable transaction, retried once on a key race."""
    return retry_on_key_race(transaction.atomic(durable=True)(func))
