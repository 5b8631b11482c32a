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

from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Q, QuerySet

from members.models import Member

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
from .rowbatch import RowBatch
from .selectors import local_midnight, months_before
from .sql import fetch_prepared, instances

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
    rows = fetch_prepared("SELECT fingerprint, result FROM loyalty_operation WHERE key = %s", [key])
    return _replayed(rows[0] if rows else None, key, fingerprint_)


def replay_locked(account: Account, key: str, fingerprint_: str) -> dict[str, Any] | None:
    """:func:`replay` from what ``accounts_lock(key=…)`` read along with the lock: no query.

    A twin that committed while the lock waited is not seen here; its operation row is, by
    the unique key, when this one writes its own, and ``durable`` answers with its result.
    """
    return _replayed(getattr(account, "replayed", None), key, fingerprint_)


def _replayed(found: Sequence[Any] | None, key: str, fingerprint_: str) -> dict[str, Any] | None:
    """``(fingerprint, result)`` of a stored operation as a replay's answer, or a conflict."""
    if found is None:
        return None
    stored_print, stored = found
    if stored_print != fingerprint_:
        raise IdempotencyConflict("This key was already used with a different request.", key=key)
    return dict(json.loads(stored) if isinstance(stored, str) else stored)


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


_ACCOUNT_COLUMNS = tuple(str(f.column) for f in Account._meta.concrete_fields)
_LOCK = """
    SELECT {columns}, m.status,
           COALESCE((SELECT SUM(l.remaining) FROM loyalty_lot l WHERE l.account_id = a.id AND l.remaining > 0
                     AND (l.expires_on IS NULL OR l.expires_on > %s) AND l.available_on <= %s), 0),
           COALESCE((SELECT SUM(l.remaining) FROM loyalty_lot l WHERE l.account_id = a.id AND l.remaining > 0
                     AND (l.expires_on IS NULL OR l.expires_on > %s) AND l.available_on > %s), 0),
           {fresh}, {rules}{windows}{replay}
    FROM loyalty_account a JOIN members_member m ON m.id = a.member_id
    WHERE a.member_id IN ({ids}) ORDER BY a.id {lock}
"""
# A fingerprint of the earning rules as they are: any insert, update or delete changes it (a row
# version's xmin and ctid; two updates in one transaction share the xmin, never the ctid), so a
# process may keep the rules it loaded while the fingerprint stays (loyalty.policy.purchase_rules).
_RULES_STAMP = {
    "postgresql": "(SELECT md5(COUNT(*)::text || string_agg(r.id::text || ':' || r.xmin::text || r.ctid::text,"
                  " ',' ORDER BY r.id)) FROM loyalty_earningrule r)",
}
# What each kind of tier window counts since a moment: spend net of refunds, or points earned.
_WINDOW = {
    "spend": ", COALESCE((SELECT SUM(p.amount - p.refunded_amount) FROM loyalty_purchase p"
             " WHERE p.member_id = a.member_id AND p.occurred_at >= %s), 0)",
    "points": ", COALESCE((SELECT SUM(e.points) FROM loyalty_ledgerentry e WHERE e.account_id = a.id"
              " AND e.kind IN ('earn', 'reverse') AND e.occurred_at >= %s), 0)",
}
_REPLAY = (", (SELECT o.fingerprint FROM loyalty_operation o WHERE o.key = %s),"
           " (SELECT o.result FROM loyalty_operation o WHERE o.key = %s)")
# READ COMMITTED: when the lock had to wait for another transaction, the row locked is the one
# that transaction left, but the subqueries above still read the statement's older snapshot.
# The locked row's xmin differs from the one the snapshot sees exactly then (every operation
# writes the account row), and the lot sums are not used.
_FRESH = {
    "postgresql": "a.xmin::text = (SELECT s.xmin::text FROM loyalty_account s WHERE s.id = a.id)",
    "sqlite": "1",  # one writer at a time: what was read is what is locked
}


def accounts_lock(
    member_ids: Iterable[int], windows: Sequence[tuple[str, int]] = (), key: str | None = None
) -> dict[int, Account]:
    """Lock the member accounts (``SELECT … FOR UPDATE``) in id order, keyed by member id.

    Locking in one global order means two operations on the same two accounts cannot
    deadlock. The balance is always checked after this call, never before.

    Two things come along with the lock, read in the same statement: the member's status (not
    locked), so services can refuse a member merged or withdrawn since they loaded it, and the
    sums of the account's open lots as of today, from which :meth:`Posting.balance` tells the
    balance after the operation without reading the lots again (unless the lock waited for
    another operation on the account: see ``_FRESH``). ``windows`` asks for the spend or points
    of tier windows as well, ``(basis, months)`` each, for the tier check of an earning; ``key``
    looks for an operation done with that idempotency key (see :func:`replay_locked`).
    """
    ids = sorted(set(member_ids))
    today = clock.today()
    if connection.vendor != "postgresql":
        windows = ()  # SQLite compares aware datetimes as text and sums decimals as floats: the ORM reads them
    starts = [local_midnight(months_before(today, months)) for _, months in windows]
    sql = _LOCK.format(
        columns=", ".join(f"a.{column}" for column in _ACCOUNT_COLUMNS),
        ids=", ".join(["%s"] * len(ids)),
        lock="FOR UPDATE OF a" if connection.features.has_select_for_update_of else "",
        fresh=_FRESH.get(connection.vendor, "0"),
        rules=_RULES_STAMP.get(connection.vendor, "NULL"),
        windows="".join(_WINDOW[basis] for basis, _ in windows),
        replay="" if key is None else _REPLAY,
    )
    locked: dict[int, Account] = {}
    keys = [] if key is None else [key, key]
    for row in fetch_prepared(sql, [today, today, today, today, *starts, *keys, *ids]):
        account: Any = instances(Account, row[: len(_ACCOUNT_COLUMNS)])
        rest = row[len(_ACCOUNT_COLUMNS):]  # in the order of the SELECT list
        status, available, pending, fresh, stamp = rest[:5]
        sums = rest[5:5 + len(windows)]
        replayed = rest[5 + len(windows):]
        account.member_status, account.rules_stamp = status, stamp
        account.replayed = tuple(replayed) if replayed and replayed[0] is not None else None
        account.windows = (
            (today, {window: Decimal(str(total)) for window, total in zip(windows, sums, strict=True)})
            if fresh else None
        )
        account.open_lots = (today, int(available), int(pending)) if fresh else None
        locked[int(account.member_id)] = account
    waited = [member_id for member_id, account in locked.items() if getattr(account, "open_lots", None) is None]
    if waited:  # read again after the wait, in a statement of its own (a fresh snapshot)
        for member_id, status in Member.objects.filter(pk__in=waited).values_list("pk", "status"):
            locked[member_id].member_status = status  # type: ignore[attr-defined]
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

    What the posting creates (the operation, new lots, entries, the rows a service adds with
    :meth:`add`) and the accounts' new state are written at :meth:`flush` in one round trip
    (:class:`~loyalty.rowbatch.RowBatch`), in dependency order. Reading :attr:`operation`
    writes what is pending first, so a row a service saves itself can refer to it.
    """

    pending_operation: Operation
    today: date = field(default_factory=lambda: clock.today())
    occurred_at: datetime = field(default_factory=lambda: clock.now())
    entries: list[LedgerEntry] = field(default_factory=list)
    touched: dict[int, Account] = field(default_factory=dict)
    written: int = 0
    new_lots: list[Lot] = field(default_factory=list)
    new_movements: list[LotMovement] = field(default_factory=list)
    new_rows: list[models.Model] = field(default_factory=list)
    # per account id: change of the open lots' (available, pending) sums as of today
    lot_sums: dict[int, list[int]] = field(default_factory=dict)

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
        operation = Operation(
            kind=kind,
            key=key,
            fingerprint=fingerprint_,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor_label or (str(actor) if actor else ""),
        )
        return cls(pending_operation=operation, occurred_at=occurred_at or clock.now())

    @property
    def operation(self) -> Operation:
        """The operation's row, written now if it is still pending."""
        if self.pending_operation.pk is None:
            self.flush()
        return self.pending_operation

    def add(self, row: models.Model) -> models.Model:
        """A row of the service's own (a purchase, a rule earning …) that belongs to this
        operation; it is written with the next flush, after the lots it may refer to."""
        row.operation = self.pending_operation  # type: ignore[attr-defined]
        self.new_rows.append(row)
        return row

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
                    operation=self.pending_operation, account_id=system_account_id(counter), kind=kind,
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
            operation=self.pending_operation, account=account, points=points,
            balance_after=account.balance, version=account.version,
            occurred_at=self.occurred_at, **fields,
        )
        self.entries.append(entry)
        return entry

    # Lots -------------------------------------------------------------------------

    def _count(self, account_id: int, available_on: date, expires_on: date | None, points: int) -> None:
        """Keep the open-lot sums in step with a lot's change of ``points`` (for :meth:`balance`)."""
        if expires_on is not None and expires_on <= self.today:
            return  # expired: in no balance
        sums = self.lot_sums.setdefault(account_id, [0, 0])
        sums[0 if available_on <= self.today else 1] += points

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
        lot = Lot(
            account=account, operation=self.pending_operation, source=source, points=points,
            remaining=points - repaid, available_on=available_on, expires_on=expires_on, moved_from=moved_from,
        )
        self.new_lots.append(lot)
        self._count(account.pk, available_on, expires_on, points - repaid)
        if repaid:
            self.new_movements.append(LotMovement(lot=lot, operation=self.pending_operation, points=-repaid))
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
            self._count(lot.account_id, lot.available_on, lot.expires_on, -take)
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
            self._count(lot.account_id, lot.available_on, lot.expires_on, points)
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
        self.flush()  # the lots this posting made must be there to pay from
        paid = self.lots_take(list(spendable_lots(account, self.today)), account.debt)
        account.debt -= paid
        self.touched[account.pk] = account

    # Results ------------------------------------------------------------------------

    def balance(self, account: Account) -> dict[str, int]:
        """``{"available", "pending"}`` of ``account`` once this operation is done.

        From the open-lot sums read with the lock plus what this posting changed, when the
        lock read them today; otherwise (an account not locked by :func:`accounts_lock`) what
        is pending is written and the lots are read.
        """
        locked = getattr(account, "open_lots", None)
        if locked is None or locked[0] != self.today:
            from .selectors import balance_summary

            self.flush()
            return balance_summary(account, self.today).as_dict()
        available, pending = self.lot_sums.get(account.pk, (0, 0))
        return {"available": locked[1] + available - account.debt, "pending": locked[2] + pending}

    def unwritten_points(self, account: Account, kinds: Iterable[EntryKind]) -> int:
        """Points of the entries on ``account`` of these kinds not written yet."""
        wanted = set(kinds)
        return sum(e.points for e in self.entries[self.written:] if e.account_id == account.pk and e.kind in wanted)

    # Commit -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything pending, in one round trip: the operation, new lots and movements,
        the entries posted so far, the rows added, and the accounts' new state."""
        pending = self.entries[self.written:]
        if sum(entry.points for entry in pending) != 0:
            raise AssertionError("an operation's entries must net to zero")
        batch = RowBatch()
        if self.pending_operation.pk is None:
            batch.insert(self.pending_operation)
        for lot in self.new_lots:  # one statement part each: entries and movements refer to them
            batch.insert(lot)
        batch.insert(*self.new_movements)
        batch.insert(*pending)
        for row in self.new_rows:
            batch.insert(row)
        for account in self.touched.values():
            batch.update(Account, account.pk, balance=account.balance, version=account.version, debt=account.debt)
        batch.run()
        self.written = len(self.entries)
        self.new_lots, self.new_movements, self.new_rows, self.touched = [], [], [], {}

    def close(self, result: dict[str, Any]) -> dict[str, Any]:
        """Write what is left, and store the result a replay will return (with the operation's
        row itself when it is still pending)."""
        self.pending_operation.result = result
        written = self.pending_operation.pk is not None
        self.flush()
        if written:
            self.pending_operation.save(update_fields=["result"])
        return result


def durable(func: Callable[P, R]) -> Callable[P, R]:
    """A top-level service: its own durable transaction, retried once on a key race."""
    return retry_on_key_race(transaction.atomic(durable=True)(func))


# ---------------------------------------------------------------------------------------
# Opening balances, a chunk of members at once (member imports)
# ---------------------------------------------------------------------------------------
#
# ``points_import_opening`` books one member's opening balance in a transaction of its own.
# An import of a million members cannot afford a transaction per member, so this door books
# a chunk in one: the same rows the per-member service writes (its key and fingerprint, the
# operation with its result, a lot available at once, the member entry chaining version and
# balance after, the counter-entry on the ``imported`` account, a debt repaid first), written
# on PostgreSQL by one statement of data-modifying CTEs over arrays, and row by row through
# :class:`Posting` elsewhere. The caller holds the transaction (the import's chunk).

OPENING_BOOKED = "booked"
OPENING_ALREADY = "already_imported"
OPENING_REJECTED = "rejected"


@dataclass(frozen=True)
class OpeningRow:
    """An opening balance to book: the member, their external id (the key) and the points."""

    member_id: int
    external_id: str
    points: int


@dataclass(frozen=True)
class OpeningResult:
    member_id: int
    status: str  # OPENING_BOOKED, OPENING_ALREADY or OPENING_REJECTED
    points: int
    reason: str = ""
    existing_points: int | None = None


def opening_key(external_id: str) -> str:
    """The idempotency key of a member's opening balance: one per member, ever."""
    return f"import:{external_id}"


def opening_fingerprint(external_id: str, points: int) -> str:
    return fingerprint({"member": external_id, "points": points})


def opening_description(source_label: str = "") -> str:
    from django.utils.translation import gettext

    return gettext("Opening balance carried over") + (f" ({source_label})" if source_label else "")


def opening_balances_post(
    rows: Sequence[OpeningRow],
    *,
    validity_days: int | None,
    actor: Any = None,
    source_label: str = "",
    set_based: bool | None = None,
) -> list[OpeningResult]:
    """Book the opening balances of a chunk of members, as ``points_import_opening`` would each.

    The accounts are locked in id order first; then a member whose opening balance is already
    booked is reported (the same amount: already imported; another amount: rejected, the
    existing amount named), and so is a member who cannot hold points (merged, withdrawn,
    suspended). Must run inside the caller's transaction; ``set_based`` defaults to PostgreSQL.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("opening_balances_post runs inside the caller's transaction")
    if len({row.member_id for row in rows}) != len(rows):
        raise ValueError("one opening balance per member in a chunk")
    if any(isinstance(row.points, bool) or row.points <= 0 for row in rows):
        raise ValueError("opening points must be positive")
    if not rows:
        return []
    if set_based is None:
        set_based = connection.vendor == "postgresql"
    if not set_based:
        return _openings_row_by_row(rows, validity_days=validity_days, actor=actor, source_label=source_label)

    today, now = clock.today(), clock.now()
    # Arrays as parameters, bound by the server (prepared): the statements' text is the same for any chunk.
    locked = {int(r[1]): r for r in fetch_prepared(
        "SELECT a.id, a.member_id, a.balance, a.debt, a.version, m.status FROM loyalty_account a "
        "JOIN members_member m ON m.id = a.member_id WHERE a.member_id = ANY(%b) ORDER BY a.id FOR UPDATE OF a",
        [[row.member_id for row in rows]],
    )}
    missing = {row.member_id for row in rows} - set(locked)
    if missing:
        raise Account.DoesNotExist(f"no points account for members {sorted(missing)}")
    # After the lock, in statements of their own: what committed while it waited is seen.
    done = {key: (print_, result) for key, print_, result in fetch_prepared(
        "SELECT key, fingerprint, result FROM loyalty_operation WHERE key = ANY(%b)",
        [[opening_key(row.external_id) for row in rows]],
    )}
    used = [r[0] for r in locked.values() if r[4] > 0]
    sums: dict[int, tuple[int, int]] = {}
    if used:
        sums = {int(a): (int(av), int(pe)) for a, av, pe in fetch_prepared(
            "SELECT account_id, COALESCE(SUM(remaining) FILTER (WHERE available_on <= %s), 0),"
            " COALESCE(SUM(remaining) FILTER (WHERE available_on > %s), 0) FROM loyalty_lot"
            " WHERE account_id = ANY(%b) AND remaining > 0 AND (expires_on IS NULL OR expires_on > %s)"
            " GROUP BY account_id",
            [today, today, used, today],
        )}

    results: dict[int, OpeningResult] = {}
    columns: list[list[Any]] = [[] for _ in range(10)]
    for row in rows:
        key, print_ = opening_key(row.external_id), opening_fingerprint(row.external_id, row.points)
        account_id, _member_id, balance, debt, version, status = locked[row.member_id]
        refused = _opening_refusal(row, done.get(key), print_, status)
        if refused is not None:
            results[row.member_id] = refused
            continue
        repaid = min(debt, row.points)
        available, pending = sums.get(account_id, (0, 0))
        result = {"member": row.external_id, "points": row.points,
                  "balance": {"available": available + row.points - repaid - (debt - repaid), "pending": pending}}
        for column, value in zip(columns, (account_id, key, print_, json.dumps(result), row.points,
                                           row.points - repaid, repaid, balance + row.points, version + 1,
                                           debt - repaid), strict=True):
            column.append(value)
        results[row.member_id] = OpeningResult(row.member_id, OPENING_BOOKED, row.points)
    if columns[0]:
        actor_id = actor.pk if getattr(actor, "pk", None) else None
        actor_label = str(actor) if actor else ""
        stamp = Operation._meta.get_field("created_at").get_default()  # when recorded, as the ORM stamps it
        fetch_prepared(_OPENINGS_SQL, [
            *columns,
            OperationKind.IMPORT, actor_id, actor_label, stamp,
            EntrySource.IMPORT, today, _opening_expiry(today, validity_days), stamp,
            system_account_id(SystemAccount.IMPORTED), EntryKind.EARN, EntrySource.IMPORT,
            opening_description(source_label), now, stamp,
        ])
    return [results[row.member_id] for row in rows]


def _opening_expiry(earned_on: date, validity_days: int | None) -> date | None:
    """As ``services.common.expiry_date``: valid ``validity_days`` from the day it is booked."""
    from datetime import timedelta

    return earned_on + timedelta(days=validity_days) if validity_days else None


def _opening_refusal(
    row: OpeningRow, done: tuple[str, Any] | None, print_: str, status: str
) -> OpeningResult | None:
    """Why this member's opening balance is not booked now, or ``None`` to book it."""
    from django.utils.translation import gettext

    from members.models import MemberStatus

    if done is not None:
        stored_print, stored = done
        if stored_print == print_:
            return OpeningResult(row.member_id, OPENING_ALREADY, row.points, existing_points=row.points)
        existing = (json.loads(stored) if isinstance(stored, str) else stored or {}).get("points")
        return OpeningResult(row.member_id, OPENING_REJECTED, row.points, existing_points=existing, reason=gettext(
            "An opening balance of %(existing)s P was already imported for this member; this row says %(points)s P. "
            "Correct the difference with a manual adjustment."
        ) % {"existing": existing, "points": row.points})
    if status in (MemberStatus.WITHDRAWN, MemberStatus.MERGED, MemberStatus.SUSPENDED):
        return OpeningResult(row.member_id, OPENING_REJECTED, row.points, reason=gettext(
            "The member is %(status)s: no points can be booked."
        ) % {"status": MemberStatus(status).label})
    return None


_OPENINGS_SQL = """
WITH d AS (
    SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::jsonb[], %b::bigint[], %b::bigint[],
                         %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[])
        WITH ORDINALITY AS d(account_id, key, fingerprint, result, points, remaining, repaid, balance_after,
                             version, debt, n)
),
ops AS (
    INSERT INTO loyalty_operation (kind, key, fingerprint, result, actor_id, actor_label, created_at)
    SELECT %s::text, d.key, d.fingerprint, d.result, %s::bigint, %s::text, %s::timestamptz FROM d ORDER BY d.n
    RETURNING id, key
),
lots AS (
    INSERT INTO loyalty_lot (account_id, operation_id, source, points, remaining, available_on, expires_on,
                             moved_from_id, created_at)
    SELECT d.account_id, o.id, %s::text, d.points, d.remaining, %s::date, %s::date, NULL, %s::timestamptz
    FROM d JOIN ops o ON o.key = d.key ORDER BY d.n
    RETURNING id, account_id, operation_id
),
moves AS (
    INSERT INTO loyalty_lotmovement (lot_id, operation_id, points)
    SELECT l.id, l.operation_id, -d.repaid FROM d JOIN lots l ON l.account_id = d.account_id
    WHERE d.repaid > 0 ORDER BY d.n
),
entries AS (
    INSERT INTO loyalty_ledgerentry (operation_id, account_id, kind, source, points, balance_after, version,
                                     reference, order_id, description, internal_note, lot_id, occurred_at,
                                     created_at)
    SELECT l.operation_id, CASE WHEN s.side = 0 THEN d.account_id ELSE %s::bigint END, %s::text, %s::text,
           CASE WHEN s.side = 0 THEN d.points ELSE -d.points END,
           CASE WHEN s.side = 0 THEN d.balance_after END, CASE WHEN s.side = 0 THEN d.version END,
           d.key, '', %s::text, '', CASE WHEN s.side = 0 THEN l.id END, %s::timestamptz, %s::timestamptz
    FROM d JOIN lots l ON l.account_id = d.account_id CROSS JOIN (VALUES (0), (1)) AS s(side)
    ORDER BY d.n, s.side
),
accounts AS (
    UPDATE loyalty_account a SET balance = d.balance_after, version = d.version, debt = d.debt
    FROM d WHERE a.id = d.account_id
)
SELECT COUNT(*) FROM ops
"""


def _openings_row_by_row(
    rows: Sequence[OpeningRow], *, validity_days: int | None, actor: Any, source_label: str
) -> list[OpeningResult]:
    """The plain path (SQLite): each member posted as ``points_import_opening`` posts it."""
    locked = accounts_lock([row.member_id for row in rows])
    results = []
    for row in rows:
        key, print_ = opening_key(row.external_id), opening_fingerprint(row.external_id, row.points)
        account = locked[row.member_id]
        found = fetch_prepared("SELECT fingerprint, result FROM loyalty_operation WHERE key = %s", [key])
        refused = _opening_refusal(row, tuple(found[0]) if found else None, print_,  # type: ignore[arg-type]
                                   getattr(account, "member_status", ""))
        if refused is not None:
            results.append(refused)
            continue
        posting = Posting.open(kind=OperationKind.IMPORT, key=key, fingerprint_=print_, actor=actor)
        lot = posting.lot_create(account, row.points, source=EntrySource.IMPORT, available_on=posting.today,
                                 expires_on=_opening_expiry(posting.today, validity_days))
        posting.move(account, row.points, kind=EntryKind.EARN, source=EntrySource.IMPORT,
                     counter=SystemAccount.IMPORTED, lot=lot, description=opening_description(source_label),
                     reference=key)
        posting.close({"member": row.external_id, "points": row.points, "balance": posting.balance(account)})
        results.append(OpeningResult(row.member_id, OPENING_BOOKED, row.points))
    return results
