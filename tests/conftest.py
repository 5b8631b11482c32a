"""Shared fixtures: members, points and time, built only through the services.

Nothing here creates ``LedgerEntry``, ``Lot`` or ``LotMovement`` rows: every point a test
holds was earned, adjusted or imported through :mod:`loyalty.services`, so a test can
only reach states the application itself can reach.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from importlib import import_module
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps as django_apps
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.test import TransactionTestCase
from django.utils import timezone as django_timezone

from loyalty import clock
from loyalty import ledger as ledger_module
from loyalty.invariants import violations
from loyalty.ledger import system_account_ids_forget
from loyalty.models import Account, LedgerEntry, Lot, LotMovement, Operation
from loyalty.services import (
    Outcome,
    activity_record,
    member_register,
    points_adjust,
    points_redeem,
    purchase_record,
)
from members.models import Member, Tier

SEOUL = ZoneInfo("Asia/Seoul")
PG_URL_HINT = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol"

# ---------------------------------------------------------------------------------------
# Test database plumbing
# ---------------------------------------------------------------------------------------

_trigger_migration = import_module("loyalty.migrations.0002_ledger_entry_immutable")
_defaults_migration = import_module("loyalty.migrations.0003_default_programme")


_original_fixture_teardown = TransactionTestCase._fixture_teardown


def _fixture_teardown_past_truncate_trigger(self: TransactionTestCase) -> None:
    """Let a transactional test's flush empty the ledger table.

    The append-only trigger also refuses TRUNCATE on PostgreSQL (rightly: that is rewriting
    history), and DELETE on SQLite; Django empties the database after a ``transaction=True``
    test with one or the other. The trigger is switched off for the flush only, and back on
    before the next test.
    """
    vendor = connection.vendor
    if vendor == "postgresql":
        off = ["ALTER TABLE loyalty_ledgerentry DISABLE TRIGGER loyalty_ledgerentry_no_truncate"]
        on = ["ALTER TABLE loyalty_ledgerentry ENABLE TRIGGER loyalty_ledgerentry_no_truncate"]
    elif vendor == "sqlite":
        off, on = _trigger_migration.SQLITE_REVERSE, _trigger_migration.SQLITE_FORWARD
    else:
        off, on = [], []
    with connection.cursor() as cursor:
        for statement in off:
            cursor.execute(statement)
    try:
        _original_fixture_teardown(self)
    finally:
        with connection.cursor() as cursor:
            for statement in on:
                cursor.execute(statement)


TransactionTestCase._fixture_teardown = _fixture_teardown_past_truncate_trigger  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------
# The one write path, checked at run time: every statement any test runs goes through this
# ---------------------------------------------------------------------------------------

LEDGER_MODULE = ledger_module.__file__
# Entries, lots and movements are written by the ledger alone, and so is an account's state
# (opening an account, an INSERT, is registration's). Raw SQL and chained querysets included.
LEDGER_WRITE = re.compile(
    r'\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(?:loyalty_ledgerentry|loyalty_lotmovement|loyalty_lot)"?(?=[\s(])'
    r'|\b(?:UPDATE|DELETE\s+FROM)\s+"?loyalty_account"?\s',
    re.IGNORECASE,
)


class WriteOutsideTheLedger(AssertionError):
    """A statement wrote ledger rows from somewhere else than loyalty/ledger.py."""


_ledger_guard = {"on": True}


def ledger_write_guard(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    if _ledger_guard["on"] and isinstance(sql, str) and LEDGER_WRITE.search(sql):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != LEDGER_MODULE:
            frame = frame.f_back
        if frame is None:
            raise WriteOutsideTheLedger(f"ledger rows written outside loyalty/ledger.py: {sql[:200]}")
    return execute(sql, params, many, context)


def _guard_install(sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
    if ledger_write_guard not in connection.execute_wrappers:
        connection.execute_wrappers.append(ledger_write_guard)


@pytest.fixture(autouse=True, scope="session")
def _ledger_written_by_the_ledger_only() -> Iterator[None]:
    """Every connection (threads' too) runs its statements through :func:`ledger_write_guard`."""
    connection_created.connect(_guard_install, dispatch_uid="ledger_write_guard")
    for each in connections.all():
        _guard_install(connection=each)
    yield
    connection_created.disconnect(dispatch_uid="ledger_write_guard")


@pytest.fixture
def ledger_written_by_hand() -> Iterator[None]:
    """For the tests that corrupt the ledger on purpose (triggers, the audit): no guard."""
    _ledger_guard["on"] = False
    yield
    _ledger_guard["on"] = True


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip(f"holds only on PostgreSQL; run with {PG_URL_HINT}")


@pytest.fixture(autouse=True)
def _programme_defaults(request: pytest.FixtureRequest) -> None:
    """Every database test starts with the programme a fresh install has (migration 0003).

    A ``transaction=True`` test flushes the tables afterwards, data migrations included, so
    the defaults are put back the way the migration creates them; the per-process cache of
    system account ids is dropped because their ids change with that.
    """
    uses_db = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}
    if request.node.get_closest_marker("django_db") is None and not uses_db & set(request.fixturenames):
        return
    request.getfixturevalue("db")
    system_account_ids_forget()
    if Account.objects.filter(system_code__isnull=False).count() < 5:
        _defaults_migration.forward(django_apps, None)


# ---------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------


@dataclass
class FrozenClock:
    """The programme's "today" (Asia/Seoul), held still until a test moves it."""

    today: date

    def now(self) -> datetime:
        return datetime.combine(self.today, time(12, 0), tzinfo=SEOUL)

    def at(self, day: date) -> datetime:
        return datetime.combine(day, time(12, 0), tzinfo=SEOUL)

    def days_ago(self, days: int) -> datetime:
        return self.at(self.today - timedelta(days=days))

    def advance(self, days: int = 1) -> date:
        self.today += timedelta(days=days)
        return self.today

    def set(self, day: date) -> date:
        self.today = day
        return day


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """``loyalty.clock.today/now`` return a date the test controls (2025-03-10 to start).

    ``django.utils.timezone.now`` follows too: ``ledger.Posting.today`` is a dataclass
    ``default_factory=clock.today`` bound at import, which patching ``loyalty.clock`` alone
    does not reach (it calls ``timezone.localdate()``, which reads ``timezone.now``).
    """
    frozen = FrozenClock(date(2025, 3, 10))
    monkeypatch.setattr(clock, "today", lambda: frozen.today)
    monkeypatch.setattr(clock, "now", frozen.now)
    monkeypatch.setattr(django_timezone, "now", frozen.now)
    return frozen


# ---------------------------------------------------------------------------------------
# Members and points, through the services only
# ---------------------------------------------------------------------------------------

_serial = itertools.count(1)
_serial_lock = threading.Lock()


def unique(prefix: str) -> str:
    with _serial_lock:
        return f"{prefix}-{next(_serial)}"


def new_member(**fields: Any) -> Member:
    fields.setdefault("external_id", unique("shop"))
    fields.setdefault("name", "홍길동")
    return member_register(**fields).member


def entry_tier(code: str = "basic", name: str = "Basic", **fields: Any) -> Tier:
    """The entry tier (rank 0) a fresh install ships (members.0002), given this code and name.

    Rank is unique and every install has a rank-0 tier, so a test names the shipped one
    rather than creating a second.
    """
    tier, _created = Tier.objects.update_or_create(rank=0, defaults={"code": code, "name": name, **fields})
    return tier


def reload(member: Member) -> Member:
    return Member.objects.get(pk=member.pk)


def account_of(member: Member) -> Account:
    return Account.objects.get(member_id=member.pk)


def give(member: Member, points: int, *, validity_days: int | None = 365, key: str | None = None) -> Outcome:
    """Points available at once (a manual adjustment, lot valid ``validity_days``)."""
    return points_adjust(member=member, points=points, reason="test credit", key=key or unique("credit"),
                         validity_days=validity_days)


def buy(member: Member, amount: str | int | Decimal, *, order_id: str | None = None, **kwargs: Any) -> Outcome:
    return purchase_record(member=member, order_id=order_id or unique("order"), amount=str(amount), **kwargs)


def spend(member: Member, points: int, *, order_id: str | None = None, order_amount: str = "10000000",
          **kwargs: Any) -> Outcome:
    """Redeem on an order big enough that the 50 % share rule never gets in the way."""
    return points_redeem(member=member, points=points, order_id=order_id or unique("pay"),
                         order_amount=order_amount, **kwargs)


def act(member: Member, type: str = "review", *, reference: str | None = None, **kwargs: Any) -> Outcome:
    return activity_record(member=member, type=type, reference=reference or unique("ref"), **kwargs)


def lots_of(member: Member) -> list[Lot]:
    return list(Lot.objects.filter(account__member=member).order_by("id"))


def remaining_by_lot(member: Member) -> dict[int, int]:
    return {lot.pk: lot.remaining for lot in lots_of(member)}


@dataclass(frozen=True)
class LedgerSnapshot:
    entries: int
    lots: int
    movements: int
    operations: int
    accounts: dict[int, tuple[int, int, int]]  # account id -> (balance, debt, version)
    remaining: dict[int, int]

    @classmethod
    def take(cls) -> LedgerSnapshot:
        return cls(
            entries=LedgerEntry.objects.count(),
            lots=Lot.objects.count(),
            movements=LotMovement.objects.count(),
            operations=Operation.objects.count(),
            accounts={a.pk: (a.balance, a.debt, a.version) for a in Account.objects.filter(member__isnull=False)},
            remaining=dict(Lot.objects.values_list("pk", "remaining")),
        )


def assert_ledger_sound() -> None:
    found = violations()
    assert found == [], "\n".join(str(v) for v in found)


@pytest.fixture
def sound_ledger() -> Iterator[None]:
    """Check every invariant after the test body (and fail the test if one broke)."""
    yield
    assert_ledger_sound()


# ---------------------------------------------------------------------------------------
# Threads (races run on PostgreSQL, each thread on its own connection)
# ---------------------------------------------------------------------------------------


@dataclass
class ThreadResult:
    index: int
    value: Any = None
    error: BaseException | None = None


def run_together(workers: list[Callable[[], Any]], *, timeout: float = 60) -> list[ThreadResult]:
    """Start every worker at the same instant (a barrier), each on its own DB connection."""
    barrier = threading.Barrier(len(workers))
    results = [ThreadResult(i) for i in range(len(workers))]

    def run(index: int, work: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index].value = work()
        except BaseException as exc:  # recorded and judged by the test
            results[index].error = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w), daemon=True) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    stuck = [t for t in threads if t.is_alive()]
    assert not stuck, f"{len(stuck)} threads still running after {timeout}s"
    return results


def errors_of(results: list[ThreadResult]) -> list[BaseException]:
    return [r.error for r in results if r.error is not None]


@pytest.fixture(autouse=True)
def _process_caches_cleared() -> Iterator[None]:
    """The read paths keep tiers, the policy and checked API keys for a few seconds per
    process; a test changes them with ``.update()`` at will, so each starts and ends cold."""
    from loyalty.api.keys import api_key_cache_clear
    from loyalty.policy import policy_cache_clear, programme_cache_clear
    from members.selectors import tiers_cache_clear

    for clear in (api_key_cache_clear, policy_cache_clear, tiers_cache_clear, programme_cache_clear):
        clear()
    yield
    for clear in (api_key_cache_clear, policy_cache_clear, tiers_cache_clear, programme_cache_clear):
        clear()
