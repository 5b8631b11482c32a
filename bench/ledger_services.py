"""Service-level throughput on the seeded bench database, with peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench .venv/bin/python bench/ledger_services.py \
        [--purchases 1000] [--redemptions 1000] [--skip-expire] [--skip-audit] [--tracemalloc]

Calls the real services in-process (no HTTP), one after the other, on random seeded members:

* ``purchase_record``  — unique order ids (``S-<nonce>-<n>``), 45,000 KRW;
* ``points_redeem``    — 1,000 P on a 10,000 KRW order (refusals for too few points are counted);
* ``points_expire_due`` — over the accounts that have a lot past its expiry date today: the seed
  makes every 500th member such an account. It is one-shot: once expired, nothing is due until
  you reseed (or pass ``--expire-on YYYY-MM-DD`` to expire as of a later date — many more accounts);
* ``loyalty.invariants.violations()`` — the full audit, each check timed.

Memory: ``ru_maxrss`` (the process's high-water mark) after each phase; with ``--tracemalloc``
also each phase's peak of Python allocations (slower; timings then include its overhead).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import django_on_bench_db, seeded_members  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"  # as in production: no query log (it also skews the query counts)

ROWS: list[tuple[str, ...]] = []


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def memory(use_tracemalloc: bool):  # type: ignore[no-untyped-def]
    box: dict[str, float] = {}
    if use_tracemalloc:
        tracemalloc.start()
        tracemalloc.reset_peak()
    try:
        yield box
    finally:
        if use_tracemalloc:
            box["peak"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        box["maxrss"] = maxrss_mb()


def timed_calls(n: int, call: Callable[[int], Any], budget: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0
    started = time.perf_counter()
    for i in range(n):
        if time.perf_counter() - started > budget:
            break
        t0 = time.perf_counter()
        try:
            call(i)
        except Exception as exc:  # counted, not fatal: e.g. InsufficientPoints
            failures += 1
            if failures == 1:
                print(f"    first refusal/failure: {type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - t0)
    return latencies, failures, time.perf_counter() - started


def report(name: str, latencies: list[float], failures: int, elapsed: float, mem: dict[str, float],
           extra: str = "") -> None:
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0] if latencies else 0] * 99
    row = (name, f"{len(latencies):,}", f"{len(latencies) / elapsed:,.1f}", f"{q[49] * 1000:.2f}",
           f"{q[98] * 1000:.2f}", str(failures), f"{mem['maxrss']:.0f}",
           f"{mem['peak']:.1f}" if "peak" in mem else "-", extra)
    ROWS.append(row)
    print(f"  {name}: {row[1]} calls, {row[2]}/s, p50 {row[3]} ms, p99 {row[4]} ms, failures {failures}, "
          f"maxrss {row[6]} MB {extra}")


def queries_per_call(call: Callable[[int], Any], offset: int) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for i in range(5):
        with CaptureQueriesContext(connection) as captured:
            try:
                call(offset + i)
            except Exception:
                continue
        counts.append(len(captured))
    return statistics.mean(counts) if counts else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=1000)
    parser.add_argument("--redemptions", type=int, default=1000)
    parser.add_argument("--budget", type=float, default=60.0, help="max seconds per timed phase")
    parser.add_argument("--expire-on", type=date.fromisoformat, default=None)
    parser.add_argument("--skip-expire", action="store_true")
    parser.add_argument("--skip-audit", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    django_on_bench_db()
    from django.db import connection

    from loyalty import clock, invariants, services
    from members.models import Member

    members = seeded_members()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM loyalty_ledgerentry")
        entries = int(cursor.fetchone()[0])
    print(f"bench database: {members:,} seeded members, {entries:,} ledger entries; today {clock.today()}")
    nonce = uuid.uuid4().hex[:10]
    rng = random.Random()

    def member() -> Member:
        return Member.objects.select_related("tier").get(external_id=f"M{rng.randint(1, members):09d}")

    def purchase(i: int) -> None:
        services.purchase_record(member=member(), order_id=f"S-{nonce}-{i}", amount="45000", channel="online",
                                 items=[{"sku": "TEA-01", "category": "tea", "amount": "45000", "quantity": 1}],
                                 actor="bench")

    def redeem(i: int) -> None:
        services.points_redeem(member=member(), points=1000, order_id=f"R-{nonce}-{i}", order_amount="10000",
                               actor="bench")

    print("\npurchase_record (member lookup included):")
    with memory(args.tracemalloc) as mem:
        latencies, failures, elapsed = timed_calls(args.purchases, purchase, args.budget)
    report("purchase_record", latencies, failures, elapsed, mem,
           f"{queries_per_call(purchase, 10**6):.0f} queries/call")

    print("\npoints_redeem (1,000 P; member lookup included):")
    with memory(args.tracemalloc) as mem:
        latencies, failures, elapsed = timed_calls(args.redemptions, redeem, args.budget)
    report("points_redeem", latencies, failures, elapsed, mem,
           f"{queries_per_call(redeem, 10**6):.0f} queries/call")

    if not args.skip_expire:
        today = args.expire_on or clock.today()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(DISTINCT account_id), COUNT(*) FROM loyalty_lot "
                           "WHERE remaining > 0 AND expires_on <= %s", [today])
            due_accounts, due_lots = cursor.fetchone()
        print(f"\npoints_expire_due as of {today}: {due_accounts:,} due accounts, {due_lots:,} due lots")
        if due_accounts == 0:
            print("  nothing due (already expired by an earlier run): reseed, or pass --expire-on a later date")
        else:
            with memory(args.tracemalloc) as mem:
                started = time.perf_counter()
                expired = services.points_expire_due(today=today)
                elapsed = time.perf_counter() - started
            print(f"  points_expire_due: {due_accounts:,} accounts in {elapsed:.1f}s = "
                  f"{due_accounts / elapsed:,.1f} accounts/s ({elapsed / due_accounts * 1000:.2f} ms each), "
                  f"{expired:,} P expired, maxrss {mem['maxrss']:.0f} MB")
            ROWS.append(("points_expire_due", f"{due_accounts:,} acc", f"{due_accounts / elapsed:,.1f} acc/s",
                         f"{elapsed / due_accounts * 1000:.2f} mean", "-", "0", f"{mem['maxrss']:.0f}",
                         f"{mem['peak']:.1f}" if "peak" in mem else "-", f"{expired:,} P"))

    if not args.skip_audit:
        print(f"\naudit: loyalty.invariants.violations() over {entries:,} entries, check by check:")
        found_total = 0
        with memory(args.tracemalloc) as mem:
            started = time.perf_counter()
            for check in invariants.CHECKS:
                t0 = time.perf_counter()
                found = list(check())
                found_total += len(found)
                print(f"  {check.__name__:<42} {time.perf_counter() - t0:7.1f}s  {len(found)} violation(s)")
                for violation in found[:5]:
                    print(f"      {violation}")
            elapsed = time.perf_counter() - started
        ROWS.append(("audit violations()", f"{entries:,} ent", f"{entries / elapsed:,.0f} ent/s",
                     f"{elapsed:.1f} s total", "-", str(found_total), f"{mem['maxrss']:.0f}",
                     f"{mem['peak']:.1f}" if "peak" in mem else "-", ""))
        print(f"  total {elapsed:.1f}s, {found_total} violation(s)")

    print()
    header = ("phase", "calls", "per s", "p50 ms", "p99 ms", "fail/viol", "maxrss MB", "tracemalloc MB", "")
    widths = [22, 13, 14, 14, 8, 9, 9, 14]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)))
    for row in ROWS:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])


if __name__ == "__main__":
    main()
