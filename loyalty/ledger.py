"""The one door to the ledger: locks, idempotency, entries, lots.

Every write service opens its operation with :func:`operation_begin`. One statement locks the
member accounts (``SELECT … FOR UPDATE``, in id order, so two operations on the same accounts
cannot deadlock) and reads, along with the lock, what the service needs: the operation already
done with its key (then the answer is :class:`Replayed`), the members' status, the sums of their
open lots, the tier windows asked for and the programme version. Otherwise the answer is
:class:`Locked`: those figures and the :class:`Posting` that writes the operation. Nothing else
in the project creates ledger entries, lots or lot movements, or changes an account's balance.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache, wraps
from typing import Any, NamedTuple, ParamSpec, TypeVar

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, QuerySet

from config.db.batch import RowBatch
from config.db.constraints import constraint_violated
from config.db.prepared import fetch_prepared, instances
from members.models import Member, MemberStatus

from . import clock
from .errors import IdempotencyConflict, InvalidRequest
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
from .policy import Programme, programme_at
from .spendable import LotState, lot_holds, lot_state, lot_sum_sql, lots_spendable
from .windows import Window, window_sql

P = ParamSpec("P")
R = TypeVar("R")
RowT = TypeVar("RowT", bound=models.Model)

CLOSED_STATUSES = (MemberStatus.WITHDRAWN, MemberStatus.MERGED, MemberStatus.SUSPENDED)


def request_digest(payload: Any) -> str:
    """A stable hash of a request, to tell a replay from a different request with the same key."""

    def default(value: Any) -> str:
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value)

    text = json.dumps(payload, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Replayed:
    """The operation was done before with this key and this request: its stored result."""

    result: dict[str, Any]


class OpenLots(NamedTuple):
    """The sums of an account's lots that hold points, as of the operation's day."""

    available: int
    pending: int


@dataclass
class Locked:
    """The member accounts locked for one operation, what the lock read, and its posting."""

    posting: Posting
    accounts: dict[int, Account]  # by member id
    statuses: dict[int, str]  # by member id, read with the lock (a merge may have committed since)
    windows: dict[int, dict[Window, Decimal]]  # by member id: the tier windows asked for (PostgreSQL)
    programme_version: int | None
    new_ids: dict[type[models.Model], int]  # the next id of each model asked for (PostgreSQL)

    @property
    def today(self) -> date:
        return self.posting.today

    def account(self, member_id: int) -> Account:
        return self.accounts[member_id]

    def member_active(self, member: Member) -> None:
        """Refuse a member that cannot move points, by the status read with the lock."""
        member.status = self.statuses[member.pk]
        if member.status in CLOSED_STATUSES:
            raise InvalidRequest(
                f"Member {member.external_id} is {member.get_status_display()}; points cannot move.",
                errors={"external_id": [f"member status is {member.status}"]},
            )

    @property
    def programme(self) -> Programme:
        """The earning rules and the policy as of the version the lock read (cached per process)."""
        return programme_at(self.programme_version)


# --- the lock statement ------------------------------------------------------------------

_ACCOUNT_COLUMNS = tuple(str(f.column) for f in Account._meta.concrete_fields)
# READ COMMITTED: when the lock had to wait for another transaction, the row locked is the one
# that transaction left, but the subqueries still read the statement's older snapshot. The
# locked row's xmin differs from the one the snapshot sees exactly then (every operation
# writes the account row); the statement is then run again, which waits for nobody (the rows
# are ours) and reads a snapshot that holds what the wait let through.
_FRESH = {
    "postgresql": "a.xmin::text = (SELECT s.xmin::text FROM loyalty_account s WHERE s.id = a.id)",
    "sqlite": "1",  # one writer at a time: what was read is what is locked
}


@lru_cache(maxsize=64)
def _lock_statement(vendor: str, today: date, members: int, windows: tuple[Window, ...],
                    new_ids: tuple[type[models.Model], ...]) -> tuple[str, tuple[object, ...]]:
    """The lock statement's text and its parameters up to the key and the member ids."""
    available, available_params = lot_sum_sql(today, LotState.SPENDABLE, "a.id")
    pending, pending_params = lot_sum_sql(today, LotState.PENDING, "a.id")
    parts, params = [], [*available_params, *pending_params]
    for basis, months in windows:
        sql, window_params = window_sql(basis, today, months, member_ref="a.member_id", account_ref="a.id")
        parts.append(f", COALESCE(({sql}), 0)")
        params += window_params
    for model in new_ids:  # identifiers from the model's metadata
        parts.append(f", nextval(pg_get_serial_sequence('{model._meta.db_table}', '{model._meta.pk.column}'))")
    lock = "FOR UPDATE OF a" if vendor == "postgresql" else ""
    sql = f"""
        SELECT {", ".join(f"a.{column}" for column in _ACCOUNT_COLUMNS)}, m.status, {_FRESH.get(vendor, "0")},
               COALESCE(({available}), 0), COALESCE(({pending}), 0),
               (SELECT v.version FROM loyalty_programmeversion v WHERE v.id = 1){"".join(parts)},
               o.fingerprint, o.result
        FROM loyalty_account a JOIN members_member m ON m.id = a.member_id
             LEFT JOIN loyalty_operation o ON o.key = %s
        WHERE a.member_id IN ({", ".join(["%s"] * members)}) ORDER BY a.id {lock}
    """  # noqa: S608 (identifiers and compiled ORM fragments only; values are parameters)
    return sql, tuple(params)


def operation_begin(
    *,
    kind: OperationKind,
    key: str | None,
    request: Any,
    lock: Iterable[int],
    windows: Sequence[Window] = (),
    new_ids: Sequence[type[models.Model]] = (),
    actor: Any = None,
    actor_label: str = "",
    occurred_at: datetime | None = None,
    today: date | None = None,
) -> Replayed | Locked:
    """Open an operation: lock the accounts of the members in ``lock`` and read, with the lock,
    everything the service needs; a key already done answers :class:`Replayed`.

    ``request`` is what makes the call (hashed: the same key with another request is an
    :class:`IdempotencyConflict`); ``windows`` the tier windows to sum for the first member in
    ``lock`` (its earning may cross a tier). ``key=None`` is for an operation whose key depends
    on what the lock read (expiry: the account's version); it sets it with :meth:`Posting.keyed`.
    A twin that commits while this one waits for its lock is seen (the statement runs again);
    one for other members, which takes no common lock, loses on the key's unique constraint
    and :func:`durable` runs it again as a replay.
    """
    member_ids = list(dict.fromkeys(lock))
    day = today or clock.today()
    postgresql = connection.vendor == "postgresql"
    wanted = tuple(windows) if postgresql else ()  # SQLite: decimals sum as floats
    ids_for = tuple(new_ids) if postgresql else ()  # SQLite: no sequences
    rows = _lock_rows(day, sorted(set(member_ids)), wanted, ids_for, key)
    width = len(_ACCOUNT_COLUMNS)
    if any(not row[width + 1] for row in rows):  # the lock waited: read again, in a new snapshot
        rows = _lock_rows(day, sorted(set(member_ids)), wanted, ids_for, key)
    *_, stored_digest, stored_result = rows[0]
    digest = request_digest(request)
    if stored_digest is not None:
        if stored_digest != digest:
            raise IdempotencyConflict("This key was already used with a different request.", key=key)
        return Replayed(dict(json.loads(stored_result) if isinstance(stored_result, str) else stored_result))
    posting = Posting.open(kind=kind, key=key or "", digest=digest, actor=actor, actor_label=actor_label,
                           occurred_at=occurred_at, today=day)
    locked = Locked(posting=posting, accounts={}, statuses={}, windows={}, programme_version=None,
                    new_ids=dict(zip(ids_for, rows[0][width + 5 + len(wanted):-2], strict=True)))
    for row in rows:
        account: Account = instances(Account, row[:width])
        status, _fresh, available, pending, locked.programme_version = row[width:width + 5]
        sums = row[width + 5:width + 5 + len(wanted)]
        member_id = int(account.member_id)  # type: ignore[arg-type]
        locked.accounts[member_id] = account
        locked.statuses[member_id] = status
        locked.windows[member_id] = {window: Decimal(str(total)) for window, total in zip(wanted, sums, strict=True)}
        posting.open_lots[account.pk] = OpenLots(int(available), int(pending))
    return locked


def _lock_rows(today: date, member_ids: list[int], windows: tuple[Window, ...],
               new_ids: tuple[type[models.Model], ...], key: str | None) -> list[tuple[Any, ...]]:
    sql, params = _lock_statement(connection.vendor, today, len(member_ids), windows, new_ids)
    rows = fetch_prepared(sql, [*params, key, *member_ids])
    if len(rows) < len(member_ids):  # a member known only to `members` (identity written alone): open its account
        found = {row[_ACCOUNT_COLUMNS.index("member_id")] for row in rows}
        missing = [pk for pk in member_ids if pk not in found]
        opened = list(Member.objects.filter(pk__in=missing).values_list("pk", flat=True))
        accounts_open(opened)
        rows = fetch_prepared(sql, [*params, key, *member_ids]) if opened else rows
    if len(rows) < len(member_ids):
        raise Account.DoesNotExist(f"no points account for some of the members {member_ids}")
    return rows


# --- retries ---------------------------------------------------------------------------------

# The operation key's unique constraint as PostgreSQL names it, and as SQLite's message does.
OPERATION_KEY_CONSTRAINTS = {f"{Operation._meta.db_table}_key_key", f"{Operation._meta.db_table}.key"}


def accounts_open(member_ids: Iterable[int]) -> None:
    """A points account for each of these members that has none, in one statement: at sign-up,
    for an import's chunk, or at the first movement of a member whose identity was written alone.

    On PostgreSQL the ids go in as one array: building ten thousand ``Account`` objects for
    ``bulk_create`` cost twice the insert itself in an import's chunk. The columns are the
    model's defaults (a test compares the row with the one ``bulk_create`` writes).
    """
    ids = list(member_ids)
    if not ids:
        return
    if connection.vendor != "postgresql":
        Account.objects.bulk_create([Account(member_id=pk) for pk in ids], ignore_conflicts=True)
        return
    fetch_prepared(
        "INSERT INTO loyalty_account (member_id, system_code, balance, debt, version, created_at) "
        "SELECT unnest(%b::bigint[]), NULL, 0, 0, 0, %s ON CONFLICT DO NOTHING RETURNING id",
        [ids, clock.now()],
    )


def is_key_race(error: IntegrityError) -> bool:
    """Whether ``error`` is the operation key's unique constraint (a twin won the race to it)."""
    return constraint_violated(error) in OPERATION_KEY_CONSTRAINTS


def durable(func: Callable[P, R]) -> Callable[P, R]:
    """A top-level service: its own durable transaction, run once more when a concurrent twin
    won the race to its operation key (the rerun answers as a replay, or a conflict).

    Two requests with one key for *different* members do not queue on one account lock: the
    unique key stops the second, whose transaction is rolled back whole. Any other integrity
    error is a bug or bad data and is raised as it is.
    """
    atomic = transaction.atomic(durable=True)(func)

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return atomic(*args, **kwargs)
        except IntegrityError as error:
            if not is_key_race(error):
                raise
            return atomic(*args, **kwargs)

    return wrapper


# --- system accounts and lots ----------------------------------------------------------------

_system_ids: dict[str, int] = {}


def system_account_id(code: SystemAccount) -> int:
    """Id of a system account (cached per process: they are created once, by a migration)."""
    if code not in _system_ids:
        _system_ids[code] = Account.objects.only("id").get(system_code=code).id
    return _system_ids[code]


def system_account_ids_forget() -> None:
    """Forget the cached ids (a test database flushed and seeded again gives new ones)."""
    _system_ids.clear()


def spendable_lots(account: Account, today: date) -> QuerySet[Lot]:
    """Spendable lots in spending order: soonest expiry first, never-expiring last.

    FIFO by expiry, not by creation: the points closest to expiry are worth least to the
    member, so they go first.
    """
    return _in_spending_order(Lot.objects.filter(lots_spendable(today), account=account))


def holding_lots(account: Account, today: date) -> QuerySet[Lot]:
    """Every lot that holds points, spendable or pending, in spending order."""
    return _in_spending_order(Lot.objects.filter(lot_holds(today), account=account))


def _in_spending_order(lots: QuerySet[Lot]) -> QuerySet[Lot]:
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


# --- the posting -----------------------------------------------------------------------------


@dataclass
class Posting:
    """The entries, lots and movements of one operation, written together.

    Entries on member accounts advance the account's version by one each and carry the
    balance after; every member entry gets its counter-entry, so the operation nets to zero.

    Everything the posting makes or changes (the operation, new lots, lot remainders and
    movements, entries, the rows a service adds or changes, the accounts' new state) is written
    at :meth:`flush`, in one round trip on PostgreSQL (:class:`config.db.batch.RowBatch`).
    Reading lots through :meth:`lots_read` writes what is pending first.
    """

    pending_operation: Operation
    today: date
    occurred_at: datetime
    open_lots: dict[int, OpenLots] = field(default_factory=dict)  # by account id, as the lock read them
    entries: list[LedgerEntry] = field(default_factory=list)
    touched: dict[int, Account] = field(default_factory=dict)
    written: int = 0
    new_lots: list[Lot] = field(default_factory=list)
    changed_lots: dict[int, Lot] = field(default_factory=dict)
    new_movements: list[LotMovement] = field(default_factory=list)
    new_rows: list[models.Model] = field(default_factory=list)
    changed_rows: dict[tuple[type[models.Model], Any], dict[str, Any]] = field(default_factory=dict)
    # per account id: change of the open lots' (available, pending) sums as of today
    lot_sums: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def open(cls, *, kind: OperationKind, key: str, digest: str, actor: Any = None, actor_label: str = "",
             occurred_at: datetime | None = None, today: date | None = None) -> Posting:
        operation = Operation(
            kind=kind, key=key, fingerprint=digest,
            actor=actor if isinstance(actor, get_user_model()) and actor.pk else None,
            actor_label=actor_label or (str(actor) if actor else ""),
        )
        return cls(pending_operation=operation, occurred_at=occurred_at or clock.now(), today=today or clock.today())

    def keyed(self, key: str, request: Any) -> None:
        """Set the key of an operation opened without one (see :func:`operation_begin`)."""
        self.pending_operation.key = key
        self.pending_operation.fingerprint = request_digest(request)

    @property
    def operation(self) -> Operation:
        """The operation's row, written now if it is still pending."""
        if self.pending_operation.pk is None:
            self.flush()
        return self.pending_operation

    def add(self, row: RowT) -> RowT:
        """A row of the service's own (a purchase, a rule earning …) that belongs to this
        operation; it is written with the next flush, after the lots it may refer to."""
        row.operation = self.pending_operation  # type: ignore[attr-defined]
        self.new_rows.append(row)
        return row

    def insert(self, row: RowT) -> RowT:
        """A row of the service's own written with the next flush, as it is (no operation set)."""
        self.new_rows.append(row)
        return row

    def change(self, model: type[models.Model], pk: Any, **values: Any) -> None:
        """Set fields of an existing row of the service's own with the next flush."""
        self.changed_rows.setdefault((model, pk), {}).update(values)

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
        texts = {"description": description, "internal_note": internal_note, "reference": reference,
                 "order_id": order_id}
        entry = self._entry(account, points, kind=kind, source=source, lot=lot, **texts)
        if isinstance(counter, Account):
            self._entry(counter, -points, kind=kind, source=source, **texts)
        else:
            self.entries.append(LedgerEntry(
                operation=self.pending_operation, account_id=system_account_id(counter), kind=kind,
                source=source, points=-points, occurred_at=self.occurred_at, **texts,
            ))
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
        state = lot_state(available_on, expires_on, self.today)
        if state is not LotState.GONE:
            sums = self.lot_sums.setdefault(account_id, [0, 0])
            sums[0 if state is LotState.SPENDABLE else 1] += points

    def lot_now(self, lot: Lot) -> Lot:
        """``lot`` as this operation has changed it so far (a copy read before a change is stale)."""
        return self.changed_lots.get(lot.pk, lot)

    def lots_read(self, lots: QuerySet[Lot]) -> list[Lot]:
        """Lots as they stand in this operation: what is pending is written first."""
        if self.changed_lots or self.new_lots:
            self.flush()
        return list(lots)

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
        for lot in lots:
            if wanted == 0:
                break
            take = min(lot.remaining, wanted)
            if take > 0:
                wanted -= take
                self._lot_change(lot, -take)
        return points - wanted

    def lots_restore(self, given: Iterable[tuple[Lot, int]]) -> int:
        """Put points back into the lots they were taken from; return how many."""
        total = 0
        for lot, points in given:
            if points > 0:
                total += points
                self._lot_change(lot, points)
        return total

    def _lot_change(self, lot: Lot, points: int) -> None:
        if lot.pk is None:
            raise ValueError("a lot made by this posting changes only after a flush")
        lot.remaining += points
        self.changed_lots[lot.pk] = lot
        self._count(lot.account_id, lot.available_on, lot.expires_on, points)
        self.new_movements.append(LotMovement(lot=lot, operation=self.pending_operation, points=points))

    def debt_add(self, account: Account, points: int) -> None:
        account.debt += points
        self.touched[account.pk] = account

    def debt_settle(self, account: Account) -> None:
        """Pay a debt from the account's available lots (after a merge brought both together)."""
        if account.debt <= 0:
            return
        paid = self.lots_take(self.lots_read(spendable_lots(account, self.today)), account.debt)
        account.debt -= paid
        self.touched[account.pk] = account

    # Results ------------------------------------------------------------------------

    def balance(self, account: Account) -> dict[str, int]:
        """``{"available", "pending"}`` of ``account`` once this operation is done: the open-lot
        sums read with the lock plus what this posting changed (no read of the lots)."""
        read = self.open_lots[account.pk]
        available, pending = self.lot_sums.get(account.pk, (0, 0))
        return {"available": read.available + available - account.debt, "pending": read.pending + pending}

    def unwritten_points(self, account: Account, kinds: Iterable[EntryKind]) -> int:
        """Points of the entries on ``account`` of these kinds not written yet."""
        wanted = set(kinds)
        return sum(e.points for e in self.entries[self.written:] if e.account_id == account.pk and e.kind in wanted)

    # Commit -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything pending, in one round trip: the operation, new lots, lot changes and
        movements, the entries posted so far, the rows added or changed, the accounts' state."""
        pending = self.entries[self.written:]
        if sum(entry.points for entry in pending) != 0:
            raise AssertionError("an operation's entries must net to zero")
        batch = RowBatch()
        if self.pending_operation.pk is None:
            batch.insert(self.pending_operation)
        for lot in self.new_lots:  # one statement part each: entries and movements refer to them
            batch.insert(lot)
        for lot in self.changed_lots.values():
            batch.update(Lot, lot.pk, remaining=lot.remaining)
        batch.insert(*self.new_movements)
        batch.insert(*pending)
        for row in self.new_rows:
            batch.insert(row)
        for (model, pk), values in self.changed_rows.items():
            batch.update(model, pk, **values)
        for account in self.touched.values():
            batch.update(Account, account.pk, balance=account.balance, version=account.version, debt=account.debt)
        batch.run()
        self.written = len(self.entries)
        self.new_lots, self.new_movements, self.new_rows = [], [], []
        self.changed_lots, self.changed_rows, self.touched = {}, {}, {}

    def close(self, result: dict[str, Any]) -> dict[str, Any]:
        """Write what is left, and store the result a replay will return (with the operation's
        row itself when it is still pending)."""
        self.pending_operation.result = result
        written = self.pending_operation.pk is not None
        if written:
            self.change(Operation, self.pending_operation.pk, result=result)
        self.flush()
        return result


# ---------------------------------------------------------------------------------------
# The batch door: a chunk of members in one transaction, set-based on PostgreSQL
# ---------------------------------------------------------------------------------------
#
# A per-member service books one member in a transaction of its own. A grant to a million
# members, a birthday run or an import cannot afford that, so these doors book a chunk in
# one: exactly the rows the per-member path writes (the operation with its key, fingerprint
# and result, the lots, lot movements, the member entries chaining version and balance after,
# the counter-entries), written on PostgreSQL by one statement of data-modifying CTEs over
# arrays, and row by row through :class:`Posting` elsewhere. The caller holds the transaction
# (one per chunk); the accounts are locked in id order before anything is read.

CREDIT_BOOKED = "booked"
CREDIT_REPLAYED = "replayed"  # the key was done before with the same request
CREDIT_CONFLICT = "conflict"  # the key was done before with another request
CREDIT_REFUSED = "refused"  # the member cannot hold points (merged, withdrawn, suspended)


@dataclass(frozen=True)
class CreditRow:
    """One member's credit in a chunk.

    ``key`` is the operation's idempotency key and ``request`` what is hashed with it (the same
    key with another request is a conflict); ``result`` is the body a replay returns, to which
    the door adds the member's ``balance`` once credited.
    """

    member_id: int
    key: str
    request: Any
    points: int
    result: dict[str, Any] = field(default_factory=dict)
    reference: str = ""
    description: str | None = None  # None: the chunk's


@dataclass(frozen=True)
class CreditResult:
    member_id: int
    status: str  # CREDIT_BOOKED, CREDIT_REPLAYED, CREDIT_CONFLICT or CREDIT_REFUSED
    points: int
    operation_id: int | None = None  # the operation booked now (None otherwise)
    account_id: int | None = None  # the member's account, when booked now
    stored: dict[str, Any] | None = None  # the result stored by an earlier call with this key
    member_status: str = ""


def _stored(result: Any) -> dict[str, Any]:
    return dict(json.loads(result) if isinstance(result, str) else result or {})


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    """``(actor_id, actor_label)`` as :meth:`Posting.open` records them."""
    actor_id = actor.pk if isinstance(actor, get_user_model()) and actor.pk else None
    return actor_id, str(actor) if actor else ""


def _batch_lock(member_ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """Lock the members' accounts in id order: ``{member_id: (account id, member id, balance,
    debt, version, status)}``; a member known only to ``members`` gets its account first."""
    sql = ("SELECT a.id, a.member_id, a.balance, a.debt, a.version, m.status FROM loyalty_account a "
           "JOIN members_member m ON m.id = a.member_id WHERE a.member_id = ANY(%b) AND m.id = ANY(%b) "
           "ORDER BY a.id FOR UPDATE OF a")  # both sides probe their key: no scan of the member table
    locked = {int(r[1]): r for r in fetch_prepared(sql, [member_ids, member_ids])}
    if len(locked) < len(member_ids):
        missing = [pk for pk in member_ids if pk not in locked]
        accounts_open(Member.objects.filter(pk__in=missing).values_list("pk", flat=True))
        locked = {int(r[1]): r for r in fetch_prepared(sql, [member_ids, member_ids])}
    if len(locked) < len(member_ids):
        raise Account.DoesNotExist(f"no points account for members {sorted(set(member_ids) - set(locked))}")
    return locked


def _open_lot_sums(account_ids: list[int], today: date) -> dict[int, tuple[int, int]]:
    """``{account id: (available, pending)}``: the sums of the open lots as of ``today``, as the
    lock statement of :func:`operation_begin` reads them (:mod:`loyalty.spendable`)."""
    if not account_ids:
        return {}
    return {int(a): (int(av), int(pe)) for a, av, pe in fetch_prepared(
        "SELECT account_id, COALESCE(SUM(remaining) FILTER (WHERE available_on <= %s), 0),"
        " COALESCE(SUM(remaining) FILTER (WHERE available_on > %s), 0) FROM loyalty_lot"
        " WHERE account_id = ANY(%b) AND remaining > 0 AND (expires_on IS NULL OR expires_on > %s)"
        " GROUP BY account_id",
        [today, today, account_ids, today],
    )}


def credits_post(
    rows: Sequence[CreditRow],
    *,
    kind: OperationKind,
    source: EntrySource,
    counter: SystemAccount,
    description: str,
    available_on: date,
    expires_on: date | None,
    actor: Any = None,
    set_based: bool | None = None,
) -> list[CreditResult]:
    """Credit a chunk of members, each as one operation of its own, as the per-member door would.

    Each member gets an operation (``kind``, its key and fingerprint, its result), a lot of
    ``points`` (available on ``available_on``, expiring on ``expires_on``), the entry on the
    account (next version, balance after) and its counter-entry on ``counter``. A debt is
    repaid first from a lot available today (as :meth:`Posting.lot_create`). Refused, with the
    lock held: a key already done (a replay, or a conflict when the request differs) and a
    member who cannot hold points. Runs inside the caller's transaction; ``set_based`` defaults
    to PostgreSQL (one statement for the chunk), else row by row through :func:`operation_begin`.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("credits_post runs inside the caller's transaction")
    if len({row.member_id for row in rows}) != len(rows) or len({row.key for row in rows}) != len(rows):
        raise ValueError("one credit per member and per key in a chunk")
    if any(isinstance(row.points, bool) or not isinstance(row.points, int) or row.points <= 0 for row in rows):
        raise ValueError("credited points must be positive integers")
    if not rows:
        return []
    if set_based is None:
        set_based = connection.vendor == "postgresql"
    spec = _CreditSpec(kind, source, counter, description, available_on, expires_on, actor)
    if not set_based:
        return [_credit_one(row, spec) for row in rows]

    today, now = clock.today(), clock.now()
    locked = _batch_lock(sorted({row.member_id for row in rows}))
    # After the lock, in statements of their own: what committed while it waited is seen.
    done = {key: (digest, result) for key, digest, result in fetch_prepared(
        "SELECT key, fingerprint, result FROM loyalty_operation WHERE key = ANY(%b)", [[row.key for row in rows]],
    )}
    sums = _open_lot_sums([int(r[0]) for r in locked.values() if r[4] > 0], today)
    available_now = available_on <= today

    results: dict[int, CreditResult] = {}
    columns: list[list[Any]] = [[] for _ in range(13)]
    for row in rows:
        account_id, _member_id, balance, debt, version, status = locked[row.member_id]
        digest = request_digest(row.request)
        refused = _credit_refusal(row, done.get(row.key), digest, status)
        if refused is not None:
            results[row.member_id] = refused
            continue
        repaid = min(debt, row.points) if available_now else 0
        available, pending = sums.get(account_id, (0, 0))
        if available_now:
            available += row.points - repaid
        else:
            pending += row.points
        result = {**row.result, "balance": {"available": available - (debt - repaid), "pending": pending}}
        values = (account_id, row.key, digest, json.dumps(result), row.points, row.points - repaid, repaid,
                  balance + row.points, version + 1, debt - repaid, row.reference,
                  description if row.description is None else row.description, row.member_id)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if columns[0]:
        actor_id, actor_label = _actor_fields(actor)
        stamp = Operation._meta.get_field("created_at").get_default()  # when recorded, as the ORM stamps it
        booked = fetch_prepared(_CREDITS_SQL, [
            *columns[:12],
            kind, actor_id, actor_label, stamp,
            source, available_on, expires_on, stamp,
            system_account_id(counter), EntryKind.EARN, source, now, stamp,
        ])
        operation_ids = {str(key): int(pk) for pk, key in booked}
        for account_id, row_key, member_id, points in zip(columns[0], columns[1], columns[12], columns[4], strict=True):
            results[member_id] = CreditResult(member_id, CREDIT_BOOKED, points, operation_id=operation_ids[row_key],
                                              account_id=account_id)
    return [results[row.member_id] for row in rows]


@dataclass(frozen=True)
class _CreditSpec:
    kind: OperationKind
    source: EntrySource
    counter: SystemAccount
    description: str
    available_on: date
    expires_on: date | None
    actor: Any


def _credit_refusal(row: CreditRow, done: tuple[str, Any] | None, digest: str, status: str) -> CreditResult | None:
    """Why this member is not credited now, or ``None`` to credit them."""
    if done is not None:
        stored_digest, stored = done
        state = CREDIT_REPLAYED if stored_digest == digest else CREDIT_CONFLICT
        return CreditResult(row.member_id, state, row.points, stored=_stored(stored), member_status=status)
    if status in CLOSED_STATUSES:
        return CreditResult(row.member_id, CREDIT_REFUSED, row.points, member_status=status)
    return None


def _credit_one(row: CreditRow, spec: _CreditSpec) -> CreditResult:
    """The plain path (SQLite): one member through :func:`operation_begin`, as a service posts it."""
    found = fetch_prepared("SELECT fingerprint, result FROM loyalty_operation WHERE key = %s", [row.key])
    if found:
        refused = _credit_refusal(row, (found[0][0], found[0][1]), request_digest(row.request), "")
        assert refused is not None
        return refused
    try:
        door = operation_begin(kind=spec.kind, key=row.key, request=row.request, lock=[row.member_id], actor=spec.actor)
    except IdempotencyConflict:  # a twin committed between the look above and the lock
        return CreditResult(row.member_id, CREDIT_CONFLICT, row.points)
    if isinstance(door, Replayed):
        return CreditResult(row.member_id, CREDIT_REPLAYED, row.points, stored=door.result)
    status = door.statuses[row.member_id]
    if status in CLOSED_STATUSES:
        return CreditResult(row.member_id, CREDIT_REFUSED, row.points, member_status=status)
    account, posting = door.account(row.member_id), door.posting
    lot = posting.lot_create(account, row.points, source=spec.source, available_on=spec.available_on,
                             expires_on=spec.expires_on)
    posting.move(account, row.points, kind=EntryKind.EARN, source=spec.source, counter=spec.counter, lot=lot,
                 description=spec.description if row.description is None else row.description,
                 reference=row.reference)
    posting.close({**row.result, "balance": posting.balance(account)})
    return CreditResult(row.member_id, CREDIT_BOOKED, row.points, operation_id=posting.pending_operation.pk,
                        account_id=account.pk)


_CREDITS_SQL = """
WITH d AS (
    SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::jsonb[], %b::bigint[], %b::bigint[],
                         %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], %b::text[], %b::text[])
        WITH ORDINALITY AS d(account_id, key, fingerprint, result, points, remaining, repaid, balance_after,
                             version, debt, reference, description, n)
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
           d.reference, '', d.description, '', CASE WHEN s.side = 0 THEN l.id END, %s::timestamptz,
           %s::timestamptz
    FROM d JOIN lots l ON l.account_id = d.account_id CROSS JOIN (VALUES (0), (1)) AS s(side)
    ORDER BY d.n, s.side
),
accounts AS (
    UPDATE loyalty_account a SET balance = d.balance_after, version = d.version, debt = d.debt
    FROM d WHERE a.id = d.account_id
      -- the chunk's id range: a range scan of the key, not a merge join over it from id 1
      AND a.id BETWEEN (SELECT min(account_id) FROM d) AND (SELECT max(account_id) FROM d)
)
SELECT id, key FROM ops
"""


# Opening balances (member imports) -------------------------------------------------------
#
# ``points_import_opening`` books one member's opening balance; an import books a chunk through
# :func:`credits_post` with the same key, request and result, so both write the same rows.

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


def opening_request(external_id: str, points: int) -> dict[str, Any]:
    """What ``points_import_opening`` hashes as its request: a replay is told from a conflict alike."""
    return {"member": external_id, "points": points}


def opening_fingerprint(external_id: str, points: int) -> str:
    return request_digest(opening_request(external_id, points))


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

    A member whose opening balance is already booked is reported (the same amount: already
    imported; another amount: rejected, the existing amount named), and so is a member who
    cannot hold points (merged, withdrawn, suspended). Must run inside the caller's transaction.
    """
    if any(isinstance(row.points, bool) or row.points <= 0 for row in rows):
        raise ValueError("opening points must be positive")
    today = clock.today()
    credits = credits_post(
        [CreditRow(member_id=row.member_id, key=opening_key(row.external_id), points=row.points,
                   request=opening_request(row.external_id, row.points),
                   result={"member": row.external_id, "points": row.points}, reference=opening_key(row.external_id))
         for row in rows],
        kind=OperationKind.IMPORT, source=EntrySource.IMPORT, counter=SystemAccount.IMPORTED,
        description=opening_description(source_label), available_on=today,
        expires_on=_opening_expiry(today, validity_days), actor=actor, set_based=set_based,
    )
    return [_opening_result(credit) for credit in credits]


def _opening_expiry(earned_on: date, validity_days: int | None) -> date | None:
    """As ``services.common.expiry_date``: valid ``validity_days`` from the day it is booked."""
    from datetime import timedelta

    return earned_on + timedelta(days=validity_days) if validity_days else None


def _opening_result(credit: CreditResult) -> OpeningResult:
    from django.utils.translation import gettext

    if credit.status == CREDIT_BOOKED:
        return OpeningResult(credit.member_id, OPENING_BOOKED, credit.points)
    if credit.status == CREDIT_REPLAYED:
        return OpeningResult(credit.member_id, OPENING_ALREADY, credit.points, existing_points=credit.points)
    if credit.status == CREDIT_CONFLICT:
        existing = (credit.stored or {}).get("points")
        return OpeningResult(credit.member_id, OPENING_REJECTED, credit.points, existing_points=existing,
                             reason=gettext(
            "An opening balance of %(existing)s P was already imported for this member; this row says %(points)s P. "
            "Correct the difference with a manual adjustment."
        ) % {"existing": existing, "points": credit.points})
    return OpeningResult(credit.member_id, OPENING_REJECTED, credit.points, reason=gettext(
        "The member is %(status)s: no points can be booked."
    ) % {"status": MemberStatus(credit.member_status).label})


# Expiry, a range of accounts at once -------------------------------------------------------


@dataclass(frozen=True)
class ExpiryResult:
    account_id: int
    member_id: int
    points: int
    operation_id: int


def expiry_key(account_id: int, version: int, today: date) -> str:
    """The key of one account's expiry run: the version read with the lock makes a replay on an
    unchanged account a no-op, while points put back into an expired lot later expire next run."""
    return f"expire:{account_id}:v{version}:{today.isoformat()}"


def expiry_request(account_id: int, today: date) -> dict[str, Any]:
    return {"account": account_id, "today": today}


def expiries_post(
    *, account_id_from: int, account_id_to: int, today: date, describe: Callable[[date], str]
) -> list[ExpiryResult]:
    """Expire the due lots of the member accounts with ids in ``[account_id_from, account_id_to)``,
    writing for each account exactly what ``services.expiry.account_expire_due`` writes.

    Per account with lots whose ``expires_on`` is on or before ``today`` and something left: one
    operation (:func:`expiry_key`), each such lot emptied with its movement (in expiry order,
    as :meth:`Posting.lots_take` takes them), one entry per expiry date (soonest first,
    ``describe(date)`` as its description) chaining version and balance after, each with its
    counter-entry on the ``expired`` account. The accounts are locked in id order, and what is
    due is read after the lock (a twin run that committed meanwhile left nothing due).
    PostgreSQL only (one statement for the range); runs inside the caller's transaction.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("expiries_post runs inside the caller's transaction")
    if connection.vendor != "postgresql":
        raise RuntimeError("expiries_post is set-based SQL for PostgreSQL; elsewhere expire account by account")
    locked = {int(r[0]): r for r in fetch_prepared(
        "SELECT a.id, a.member_id, a.balance, a.debt, a.version FROM loyalty_account a"
        " WHERE a.id >= %s AND a.id < %s AND a.member_id IS NOT NULL AND EXISTS (SELECT 1 FROM loyalty_lot l"
        " WHERE l.account_id = a.id AND l.remaining > 0 AND l.expires_on <= %s) ORDER BY a.id FOR UPDATE OF a",
        [account_id_from, account_id_to, today],
    )}
    if not locked:
        return []
    due = fetch_prepared(
        "SELECT id, account_id, remaining, expires_on FROM loyalty_lot WHERE account_id = ANY(%b)"
        " AND remaining > 0 AND expires_on <= %s ORDER BY account_id, expires_on, id",
        [list(locked), today],
    )
    if not due:
        return []
    sums = _open_lot_sums(sorted({int(lot[1]) for lot in due}), today)
    accounts: list[list[Any]] = [[] for _ in range(6)]  # id, key, fingerprint, result, balance, version
    lots: list[list[Any]] = [[] for _ in range(3)]  # id, key, remaining
    entries: list[list[Any]] = [[] for _ in range(7)]  # key, account, points, balance after, version, ref, text
    totals: dict[int, int] = {}
    descriptions: dict[date, str] = {}
    for account_id, account_lots in _grouped(due):
        _id, _member_id, balance, debt, version = locked[account_id]
        key = expiry_key(account_id, version, today)
        by_date: dict[date, int] = {}
        for lot_id, _account, remaining, expires_on in account_lots:
            by_date[expires_on] = by_date.get(expires_on, 0) + remaining
            for column, value in zip(lots, (lot_id, key, remaining), strict=True):
                column.append(value)
        for expires_on, points in sorted(by_date.items()):
            balance, version = balance - points, version + 1
            if expires_on not in descriptions:
                descriptions[expires_on] = describe(expires_on)
            for column, value in zip(entries, (key, account_id, points, balance, version, expires_on.isoformat(),
                                               descriptions[expires_on]), strict=True):
                column.append(value)
        totals[account_id] = sum(by_date.values())
        available, pending = sums.get(account_id, (0, 0))
        result = {"points": totals[account_id], "balance": {"available": available - debt, "pending": pending}}
        for column, value in zip(accounts, (account_id, key, request_digest(expiry_request(account_id, today)),
                                            json.dumps(result), balance, version), strict=True):
            column.append(value)
    stamp = Operation._meta.get_field("created_at").get_default()
    booked = fetch_prepared(_EXPIRIES_SQL, [
        *accounts, OperationKind.EXPIRE, stamp, *lots, *entries,
        system_account_id(SystemAccount.EXPIRED), EntryKind.EXPIRE, EntrySource.SYSTEM, clock.now(), stamp,
    ])
    operation_ids = {str(key): int(pk) for pk, key in booked}
    return [ExpiryResult(account_id, int(locked[account_id][1]), totals[account_id], operation_ids[key])
            for account_id, key in zip(accounts[0], accounts[1], strict=True)]


def _grouped(lots: list[tuple[Any, ...]]) -> Iterable[tuple[int, list[tuple[Any, ...]]]]:
    """The due lots (ordered by account) by account id."""
    from itertools import groupby

    for account_id, group in groupby(lots, key=lambda lot: int(lot[1])):
        yield account_id, list(group)


_EXPIRIES_SQL = """
WITH a AS (
    SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::jsonb[], %b::bigint[], %b::bigint[])
        WITH ORDINALITY AS a(account_id, key, fingerprint, result, balance, version, n)
),
ops AS (
    INSERT INTO loyalty_operation (kind, key, fingerprint, result, actor_id, actor_label, created_at)
    SELECT %s::text, a.key, a.fingerprint, a.result, NULL, '', %s::timestamptz FROM a ORDER BY a.n
    RETURNING id, key
),
l AS (
    SELECT * FROM unnest(%b::bigint[], %b::text[], %b::bigint[]) WITH ORDINALITY AS l(lot_id, key, remaining, n)
),
emptied AS (
    UPDATE loyalty_lot SET remaining = 0 FROM l WHERE loyalty_lot.id = l.lot_id
),
moves AS (
    INSERT INTO loyalty_lotmovement (lot_id, operation_id, points)
    SELECT l.lot_id, o.id, -l.remaining FROM l JOIN ops o ON o.key = l.key ORDER BY l.n
),
e AS (
    SELECT * FROM unnest(%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], %b::text[], %b::text[])
        WITH ORDINALITY AS e(key, account_id, points, balance_after, version, reference, description, n)
),
entries AS (
    INSERT INTO loyalty_ledgerentry (operation_id, account_id, kind, source, points, balance_after, version,
                                     reference, order_id, description, internal_note, lot_id, occurred_at,
                                     created_at)
    SELECT o.id, CASE WHEN s.side = 0 THEN e.account_id ELSE %s::bigint END, %s::text, %s::text,
           CASE WHEN s.side = 0 THEN -e.points ELSE e.points END,
           CASE WHEN s.side = 0 THEN e.balance_after END, CASE WHEN s.side = 0 THEN e.version END,
           e.reference, '', e.description, '', NULL, %s::timestamptz, %s::timestamptz
    FROM e JOIN ops o ON o.key = e.key CROSS JOIN (VALUES (0), (1)) AS s(side)
    ORDER BY e.n, s.side
),
accounts AS (
    UPDATE loyalty_account t SET balance = a.balance, version = a.version FROM a WHERE t.id = a.account_id
      AND t.id BETWEEN (SELECT min(account_id) FROM a) AND (SELECT max(account_id) FROM a)
)
SELECT id, key FROM ops
"""
