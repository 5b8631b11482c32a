"""The ledger's invariants, stated once: used by ``audit_ledger``, the tests and the benchmarks.

Each check is one set-based query, so the whole database is audited in a handful of scans
rather than one query per account.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection


@dataclass(frozen=True)
class Violation:
    invariant: str
    account_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"account {self.account_id}" if self.account_id is not None else "ledger"
        return f"[{self.invariant}] {where}: {self.detail}"


def _rows(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def balance_equals_entry_sum() -> Iterator[Violation]:
    """The cached balance is the sum of the account's entries."""
    for account_id, balance, total in _rows(
        """
        SELECT a.id, a.balance, COALESCE(e.total, 0)
        FROM loyalty_account a
        LEFT JOIN (SELECT account_id, SUM(points) AS total FROM loyalty_ledgerentry GROUP BY account_id) e
               ON e.account_id = a.id
        WHERE a.member_id IS NOT NULL AND a.balance <> COALESCE(e.total, 0)
        """
    ):
        yield Violation("balance_is_entry_sum", int(account_id), f"balance {balance} ≠ entries {total}")


def balance_equals_lots_less_debt() -> Iterator[Violation]:
    """The balance is what the lots hold, less the debt a refund left."""
    for account_id, balance, lots, debt in _rows(
        """
        SELECT a.id, a.balance, COALESCE(l.total, 0), a.debt
        FROM loyalty_account a
        LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM loyalty_lot GROUP BY account_id) l
               ON l.account_id = a.id
        WHERE a.member_id IS NOT NULL AND a.balance <> COALESCE(l.total, 0) - a.debt
        """
    ):
        yield Violation("balance_is_lots_less_debt", int(account_id), f"balance {balance} ≠ lots {lots} − debt {debt}")


def versions_chain() -> Iterator[Violation]:
    """Versions run 1..n with no gap, and the account's version is n."""
    for account_id, version, count, low, high in _rows(
        """
        SELECT a.id, a.version, COUNT(e.id), MIN(e.version), MAX(e.version)
        FROM loyalty_account a
        LEFT JOIN loyalty_ledgerentry e ON e.account_id = a.id
        WHERE a.member_id IS NOT NULL
        GROUP BY a.id, a.version
        HAVING a.version <> COUNT(e.id) OR COALESCE(MAX(e.version), 0) <> COUNT(e.id)
            OR COALESCE(MIN(e.version), 1) <> 1
        """
    ):
        yield Violation("versions_contiguous", int(account_id),
                        f"account version {version}, {count} entries, versions {low}..{high}")


def balance_after_chains() -> Iterator[Violation]:
    """Each entry's balance after is the previous one's plus its points; the last is the balance."""
    for account_id, version, before, points, after in _rows(
        """
        SELECT account_id, version, prev, points, balance_after FROM (
            SELECT account_id, version, points, balance_after,
                   LAG(balance_after, 1, 0) OVER (PARTITION BY account_id ORDER BY version) AS prev
            FROM loyalty_ledgerentry WHERE version IS NOT NULL
        ) chained
        WHERE balance_after <> prev + points
        """
    ):
        yield Violation("balance_after_chain", int(account_id),
                        f"version {version}: {before} + {points} ≠ {after}")
    for account_id, balance, last in _rows(
        """
        SELECT a.id, a.balance, e.balance_after FROM loyalty_account a
        JOIN loyalty_ledgerentry e ON e.account_id = a.id AND e.version = a.version
        WHERE a.member_id IS NOT NULL AND e.balance_after <> a.balance
        """
    ):
        yield Violation("balance_after_chain", int(account_id), f"last balance after {last} ≠ balance {balance}")


def operations_net_zero() -> Iterator[Violation]:
    """Double entry: every operation's entries add up to zero."""
    for operation_id, total in _rows(
        "SELECT operation_id, SUM(points) FROM loyalty_ledgerentry GROUP BY operation_id HAVING SUM(points) <> 0"
    ):
        yield Violation("operation_nets_zero", None, f"operation {operation_id} nets {total}")


def lots_match_movements() -> Iterator[Violation]:
    """A lot's remainder is its points plus its movements, and stays within 0..points."""
    for lot_id, account_id, points, remaining, moved in _rows(
        """
        SELECT l.id, l.account_id, l.points, l.remaining, COALESCE(m.total, 0)
        FROM loyalty_lot l
        LEFT JOIN (SELECT lot_id, SUM(points) AS total FROM loyalty_lotmovement GROUP BY lot_id) m
               ON m.lot_id = l.id
        WHERE l.remaining <> l.points + COALESCE(m.total, 0) OR l.remaining < 0 OR l.remaining > l.points
        """
    ):
        yield Violation("lot_remaining", int(account_id),
                        f"lot {lot_id}: {points} + moved {moved} ≠ remaining {remaining}")


def accounts_without_debt_hold_no_negative() -> Iterator[Violation]:
    for account_id, debt in _rows("SELECT id, debt FROM loyalty_account WHERE debt < 0"):
        yield Violation("debt_not_negative", int(account_id), f"debt {debt}")


def system_accounts_unversioned() -> Iterator[Violation]:
    for account_id, count in _rows(
        """
        SELECT a.id, COUNT(*) FROM loyalty_account a JOIN loyalty_ledgerentry e ON e.account_id = a.id
        WHERE a.member_id IS NULL AND (e.version IS NOT NULL OR e.balance_after IS NOT NULL)
        GROUP BY a.id
        """
    ):
        yield Violation("system_account_unversioned", int(account_id), f"{count} versioned entries")


def keys_unique() -> Iterator[Violation]:
    checks = [
        ("loyalty_operation", "key"),
        ("loyalty_purchase", "order_id"),
        ("loyalty_refund", "refund_id"),
    ]
    for table, column in checks:
        for value, count in _rows(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column} HAVING COUNT(*) > 1"):  # noqa: S608
            yield Violation("key_unique", None, f"{table}.{column} {value!r} appears {count} times")


def redemptions_match_lots() -> Iterator[Violation]:
    """A redemption took exactly its points from its lots, and got back what it says."""
    for redemption_id, points, taken, restored, restored_lots in _rows(
        """
        SELECT r.id, r.points, COALESCE(SUM(rl.points), 0), r.points_restored, COALESCE(SUM(rl.restored), 0)
        FROM loyalty_redemption r LEFT JOIN loyalty_redemptionlot rl ON rl.redemption_id = r.id
        GROUP BY r.id, r.points, r.points_restored
        HAVING r.points <> COALESCE(SUM(rl.points), 0) OR r.points_restored <> COALESCE(SUM(rl.restored), 0)
        """
    ):
        yield Violation("redemption_lots", None,
                        f"redemption {redemption_id}: {points} P, lots {taken}, restored {restored}/{restored_lots}")


CHECKS: tuple[Callable[[], Iterator[Violation]], ...] = (
    balance_equals_entry_sum,
    balance_equals_lots_less_debt,
    versions_chain,
    balance_after_chains,
    operations_net_zero,
    lots_match_movements,
    accounts_without_debt_hold_no_negative,
    system_accounts_unversioned,
    keys_unique,
    redemptions_match_lots,
)


def violations() -> list[Violation]:
    """Every broken invariant in the database (empty when the ledger is sound)."""
    found: list[Violation] = []
    for check in CHECKS:
        found.extend(check())
    return found
