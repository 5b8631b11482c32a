"""Batch jobs at scale: expiry, a grant and a birthday run over the 1M-member bench database,
each through its chunk service, beside the same work written as plain set-based SQL.

Run it on a COPY of the bench database (it writes): ::

    createdb -h 127.0.0.1 -U postgres -T dangol_bench dangol_bench_<you>
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_<you>
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/seed.py --all-due 2026-12-05          # one due lot per member on that day
    .venv/bin/python bench/batch_jobs.py expiry --today 2026-12-05 [--slices 4] [--chunk 5000]
    .venv/bin/python bench/batch_jobs.py grant [--slices 4] [--chunk 5000] [--points 100]
    .venv/bin/python bench/batch_jobs.py birthdays --today 2026-12-05 [--chunk 10000]

Expiry and grant, per slice of accounts (members), back to back on the same rows: first the
hand-written SQL reference (one statement for the slice, in a transaction that is then
ROLLED BACK, so the same rows are there for the service), then the chunk service for real
(one transaction per chunk, as the Celery chunk tasks run it). Both write the same rows: a
digest of what each wrote (operations' key, fingerprint and result; entries' account, points,
balance after, version, reference and description; lot movements) is compared per slice.
The rolled-back SQL leaves dead tuples the service then steps over: if anything, that
handicaps the service. Memory: the process's ``ru_maxrss`` after each phase and, with
``--tracemalloc``, Python's peak allocation per slice (tracemalloc slows Python down: the
times of such a run are not the figures to report).

The SQL reference exists only here: the application has one write path (loyalty/ledger.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_on_bench_db

os.environ["DJANGO_DEBUG"] = "0"  # as in production: no query log


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the SQL references ------------------------------------------------------------------

EXPIRY_SQL = """
WITH acc AS (
    SELECT a.id, a.version, a.balance, a.debt FROM loyalty_account a
    WHERE a.id >= %(lo)s AND a.id < %(hi)s AND a.member_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM loyalty_lot l WHERE l.account_id = a.id AND l.remaining > 0
                  AND l.expires_on <= %(day)s)
    ORDER BY a.id FOR UPDATE
),
due AS (
    SELECT l.id, l.account_id, l.remaining, l.expires_on FROM loyalty_lot l JOIN acc ON acc.id = l.account_id
    WHERE l.remaining > 0 AND l.expires_on <= %(day)s
),
open_sums AS (
    SELECT l.account_id, COALESCE(SUM(l.remaining) FILTER (WHERE l.available_on <= %(day)s), 0) AS available,
           COALESCE(SUM(l.remaining) FILTER (WHERE l.available_on > %(day)s), 0) AS pending
    FROM loyalty_lot l JOIN acc ON acc.id = l.account_id
    WHERE l.remaining > 0 AND (l.expires_on IS NULL OR l.expires_on > %(day)s) GROUP BY l.account_id
),
per_date AS (SELECT account_id, expires_on, SUM(remaining) AS points FROM due GROUP BY account_id, expires_on),
chain AS (
    SELECT p.account_id, p.expires_on, p.points, acc.version + ROW_NUMBER() OVER w AS version,
           acc.balance - SUM(p.points) OVER w AS balance_after
    FROM per_date p JOIN acc ON acc.id = p.account_id
    WINDOW w AS (PARTITION BY p.account_id ORDER BY p.expires_on ROWS UNBOUNDED PRECEDING)
),
totals AS (
    SELECT c.account_id, 'expire:' || c.account_id || ':v' || acc.version || ':' || %(day_text)s AS key,
           SUM(c.points) AS points, MAX(c.version) AS version, MIN(c.balance_after) AS balance,
           MIN(acc.debt) AS debt
    FROM chain c JOIN acc ON acc.id = c.account_id GROUP BY c.account_id, acc.version
),
ops AS (
    INSERT INTO loyalty_operation (kind, key, fingerprint, result, actor_id, actor_label, created_at)
    SELECT 'expire', t.key,
           encode(sha256(convert_to('{"account":' || t.account_id || ',"today":"' || %(day_text)s || '"}', 'UTF8')),
                  'hex'),
           jsonb_build_object('points', t.points, 'balance', jsonb_build_object(
               'available', COALESCE(s.available, 0) - t.debt, 'pending', COALESCE(s.pending, 0))),
           NULL, '', now()
    FROM totals t LEFT JOIN open_sums s ON s.account_id = t.account_id ORDER BY t.account_id
    RETURNING id, key
),
op_of AS (SELECT ops.id, t.account_id FROM ops JOIN totals t ON t.key = ops.key),
emptied AS (UPDATE loyalty_lot l SET remaining = 0 FROM due WHERE l.id = due.id),
moves AS (
    INSERT INTO loyalty_lotmovement (lot_id, operation_id, points)
    SELECT due.id, o.id, -due.remaining FROM due JOIN op_of o ON o.account_id = due.account_id
    ORDER BY due.account_id, due.expires_on, due.id
),
entries AS (
    INSERT INTO loyalty_ledgerentry (operation_id, account_id, kind, source, points, balance_after, version,
                                     reference, order_id, description, internal_note, lot_id, occurred_at,
                                     created_at)
    SELECT o.id, CASE WHEN s.side = 0 THEN c.account_id ELSE %(expired)s END, 'expire', 'system',
           CASE WHEN s.side = 0 THEN -c.points ELSE c.points END,
           CASE WHEN s.side = 0 THEN c.balance_after END, CASE WHEN s.side = 0 THEN c.version END,
           to_char(c.expires_on, 'YYYY-MM-DD'), '',
           %(text_before)s || to_char(c.expires_on, 'YYYY-MM-DD') || %(text_after)s, '', NULL, now(), now()
    FROM chain c JOIN op_of o ON o.account_id = c.account_id CROSS JOIN (VALUES (0), (1)) AS s(side)
    ORDER BY c.account_id, c.expires_on, s.side
),
accounts AS (
    UPDATE loyalty_account a SET balance = t.balance, version = t.version FROM totals t WHERE a.id = t.account_id
)
SELECT (SELECT COUNT(*) FROM totals), (SELECT COALESCE(SUM(points), 0) FROM totals)
"""

GRANT_SQL = """
WITH acc AS (
    SELECT a.id, a.member_id, a.version, a.balance, a.debt FROM loyalty_account a
    JOIN members_member m ON m.id = a.member_id
    WHERE a.member_id >= %(lo)s AND a.member_id < %(hi)s AND m.status NOT IN ('withdrawn', 'merged', 'suspended')
      AND NOT EXISTS (SELECT 1 FROM loyalty_operation o WHERE o.key = %(prefix)s || ':' || a.member_id)
    ORDER BY a.id FOR UPDATE OF a
),
open_sums AS (
    SELECT l.account_id, COALESCE(SUM(l.remaining) FILTER (WHERE l.available_on <= %(day)s), 0) AS available,
           COALESCE(SUM(l.remaining) FILTER (WHERE l.available_on > %(day)s), 0) AS pending
    FROM loyalty_lot l JOIN acc ON acc.id = l.account_id
    WHERE l.remaining > 0 AND (l.expires_on IS NULL OR l.expires_on > %(day)s) GROUP BY l.account_id
),
d AS (
    SELECT acc.*, LEAST(acc.debt, %(points)s) AS repaid, %(prefix)s || ':' || acc.member_id AS key,
           COALESCE(s.available, 0) AS available, COALESCE(s.pending, 0) AS pending
    FROM acc LEFT JOIN open_sums s ON s.account_id = acc.id
),
ops AS (
    INSERT INTO loyalty_operation (kind, key, fingerprint, result, actor_id, actor_label, created_at)
    SELECT 'campaign', d.key,
           encode(sha256(convert_to('{"grant":' || to_jsonb(%(prefix)s::text)::text || ',"member":' || d.member_id
                                    || ',"points":' || %(points)s || ',"validity_days":' || %(validity_json)s || '}',
                                    'UTF8')), 'hex'),
           jsonb_build_object('grant', %(prefix)s::text, 'points', %(points)s, 'balance', jsonb_build_object(
               'available', d.available + %(points)s - d.repaid - (d.debt - d.repaid), 'pending', d.pending)),
           NULL, '', now()
    FROM d ORDER BY d.id
    RETURNING id, key
),
lots AS (
    INSERT INTO loyalty_lot (account_id, operation_id, source, points, remaining, available_on, expires_on,
                             moved_from_id, created_at)
    SELECT d.id, o.id, 'campaign', %(points)s, %(points)s - d.repaid, %(day)s, %(expires_on)s, NULL, now()
    FROM d JOIN ops o ON o.key = d.key ORDER BY d.id
    RETURNING id, account_id, operation_id
),
moves AS (
    INSERT INTO loyalty_lotmovement (lot_id, operation_id, points)
    SELECT l.id, l.operation_id, -d.repaid FROM d JOIN lots l ON l.account_id = d.id WHERE d.repaid > 0
),
entries AS (
    INSERT INTO loyalty_ledgerentry (operation_id, account_id, kind, source, points, balance_after, version,
                                     reference, order_id, description, internal_note, lot_id, occurred_at,
                                     created_at)
    SELECT l.operation_id, CASE WHEN s.side = 0 THEN d.id ELSE %(issued)s END, 'earn', 'campaign',
           CASE WHEN s.side = 0 THEN %(points)s ELSE -%(points)s END,
           CASE WHEN s.side = 0 THEN d.balance + %(points)s END, CASE WHEN s.side = 0 THEN d.version + 1 END,
           %(prefix)s, '', %(description)s, '', CASE WHEN s.side = 0 THEN l.id END, now(), now()
    FROM d JOIN lots l ON l.account_id = d.id CROSS JOIN (VALUES (0), (1)) AS s(side) ORDER BY d.id, s.side
),
accounts AS (
    UPDATE loyalty_account a SET balance = d.balance + %(points)s, version = d.version + 1, debt = d.debt - d.repaid
    FROM d WHERE a.id = d.id
)
SELECT (SELECT COUNT(*) FROM ops), (SELECT COUNT(*) FROM ops) * %(points)s
"""

# What a run wrote, after the given ids: the same digest whichever path wrote it.
DIGEST_SQL = """
SELECT
  (SELECT COUNT(*) || '/' || COALESCE(SUM(hashtextextended(key || fingerprint || result::text, 0) %% 1000000007), 0)
   FROM loyalty_operation WHERE id > %(op)s),
  (SELECT COUNT(*) || '/' || COALESCE(SUM(hashtextextended(concat_ws('|', account_id, kind, source, points,
          balance_after, version, reference, description), 0) %% 1000000007), 0)
   FROM loyalty_ledgerentry WHERE id > %(entry)s),
  (SELECT COUNT(*) || '/' || COALESCE(SUM(hashtextextended(lot_id || '|' || points, 0) %% 1000000007), 0)
   FROM loyalty_lotmovement WHERE id > %(move)s)
"""


def high_water() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT COALESCE(MAX(id), 0) FROM loyalty_operation),"
                       " (SELECT COALESCE(MAX(id), 0) FROM loyalty_ledgerentry),"
                       " (SELECT COALESCE(MAX(id), 0) FROM loyalty_lotmovement)")
        op, entry, move = cursor.fetchone()
    return {"op": op, "entry": entry, "move": move}


def digest(since: dict[str, int]) -> tuple[str, ...]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(DIGEST_SQL, since)
        return tuple(cursor.fetchone())


def sql_reference(sql: str, params: dict[str, Any]) -> tuple[float, int, int, tuple[str, ...]]:
    """Run ``sql`` in a transaction, digest what it wrote, roll it back: (seconds, rows, points, digest)."""
    from django.db import connection, transaction

    since = high_water()
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows, points = cursor.fetchone()
        elapsed = time.perf_counter() - started
        written = digest(since)
        transaction.set_rollback(True)
    return elapsed, int(rows), int(points), written


def by_service(run: Callable[[], tuple[int, int]], use_tracemalloc: bool) -> tuple[float, int, int, float | None]:
    """(seconds, rows, points, tracemalloc peak MB or None)."""
    if use_tracemalloc:
        tracemalloc.start()
        tracemalloc.reset_peak()
    started = time.perf_counter()
    rows, points = run()
    elapsed = time.perf_counter() - started
    peak = None
    if use_tracemalloc:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return elapsed, rows, points, peak


def slices(low: int, high: int, count: int) -> list[tuple[int, int]]:
    size = -(-(high - low + 1) // count)
    return [(start, min(start + size, high + 1)) for start in range(low, high + 1, size)]


def report(job: str, rounds: list[dict[str, Any]]) -> None:
    sql_total = sum(r["sql_s"] for r in rounds)
    svc_total = sum(r["svc_s"] for r in rounds)
    rows = sum(r["rows"] for r in rounds)
    ratios = [r["svc_s"] / r["sql_s"] for r in rounds]
    print(f"\n{job}: {rows:,} members in {len(rounds)} slices")
    print(f"  SQL reference: {sql_total:.1f}s total, {rows / sql_total:,.0f} members/s, "
          f"median slice {statistics.median(r['sql_s'] for r in rounds):.1f}s")
    print(f"  chunk service: {svc_total:.1f}s total, {rows / svc_total:,.0f} members/s, "
          f"median slice {statistics.median(r['svc_s'] for r in rounds):.1f}s")
    print(f"  service / SQL: {svc_total / sql_total:.2f}x total, median of slices {statistics.median(ratios):.2f}x; "
          f"same rows in every slice: {all(r['same'] for r in rounds)}; maxrss {maxrss_mb():.0f} MB")


def run_expiry(args: argparse.Namespace) -> None:
    from django.db.models import Max, Min

    from loyalty.ledger import system_account_id
    from loyalty.models import Account, SystemAccount
    from loyalty.services.chunks import id_ranges
    from loyalty.services.expiry import expiry_description, points_expire_chunk

    day: date = args.today
    marker = "1111-11-11"
    before, after = expiry_description(date(1111, 11, 11)).split(marker)
    bounds = Account.objects.filter(member__isnull=False).aggregate(low=Min("pk"), high=Max("pk"))
    rounds = []
    for lo, hi in slices(bounds["low"], bounds["high"], args.slices):
        params = {"lo": lo, "hi": hi, "day": day, "day_text": day.isoformat(), "text_before": before,
                  "text_after": after, "expired": system_account_id(SystemAccount.EXPIRED)}
        sql_s, sql_rows, sql_points, sql_digest = sql_reference(EXPIRY_SQL, params)
        since = high_water()

        def chunks(lo: int = lo, hi: int = hi) -> tuple[int, int]:
            rows = points = 0
            for start, end in id_ranges(Account.objects.filter(pk__gte=lo, pk__lt=hi), args.chunk):
                done = points_expire_chunk(account_id_from=start, account_id_to=end, today=day)
                rows, points = rows + done.members, points + done.points
            return rows, points

        svc_s, svc_rows, svc_points, peak = by_service(chunks, args.tracemalloc)
        same = digest(since) == sql_digest and (svc_rows, svc_points) == (sql_rows, sql_points)
        rounds.append({"sql_s": sql_s, "svc_s": svc_s, "rows": svc_rows, "same": same})
        print(f"accounts [{lo}, {hi}): SQL {sql_rows:,} accounts {sql_s:.1f}s ({sql_rows / max(sql_s, 1e-9):,.0f}/s) | "
              f"service {svc_rows:,} accounts {svc_s:.1f}s ({svc_rows / max(svc_s, 1e-9):,.0f}/s) "
              f"ratio {svc_s / max(sql_s, 1e-9):.2f}x same rows {same}"
              + (f" tracemalloc peak {peak:.1f} MB" if peak is not None else "")
              + f" maxrss {maxrss_mb():.0f} MB", flush=True)
    report("expiry", rounds)


def run_grant(args: argparse.Namespace) -> None:
    from django.db.models import Max, Min

    from loyalty.ledger import system_account_id
    from loyalty.models import SystemAccount
    from loyalty.services.grants import points_grant_chunk
    from members.models import Member

    prefix = args.prefix or f"bench-grant-{int(time.time())}"
    description = "Bench grant"
    bounds = Member.objects.aggregate(low=Min("pk"), high=Max("pk"))
    rounds = []
    for lo, hi in slices(bounds["low"], bounds["high"], args.slices):
        params = {"lo": lo, "hi": hi, "day": args.today, "prefix": prefix, "points": args.points,
                  "validity_json": "null", "expires_on": None, "description": description,
                  "issued": system_account_id(SystemAccount.ISSUED)}
        sql_s, sql_rows, sql_points, sql_digest = sql_reference(GRANT_SQL, params)
        since = high_water()

        def chunks(lo: int = lo, hi: int = hi) -> tuple[int, int]:
            rows = points = 0
            for start in range(lo, hi, args.chunk):
                ids = list(Member.objects.filter(pk__gte=start, pk__lt=min(start + args.chunk, hi))
                           .order_by("pk").values_list("pk", flat=True))
                done = points_grant_chunk(member_ids=ids, points=args.points, key_prefix=prefix,
                                          description=description)
                rows, points = rows + done.members, points + done.points
            return rows, points

        svc_s, svc_rows, svc_points, peak = by_service(chunks, args.tracemalloc)
        same = digest(since) == sql_digest and (svc_rows, svc_points) == (sql_rows, sql_points)
        rounds.append({"sql_s": sql_s, "svc_s": svc_s, "rows": svc_rows, "same": same})
        print(f"members [{lo}, {hi}): SQL {sql_rows:,} {sql_s:.1f}s ({sql_rows / max(sql_s, 1e-9):,.0f}/s) | "
              f"service {svc_rows:,} {svc_s:.1f}s ({svc_rows / max(svc_s, 1e-9):,.0f}/s) "
              f"ratio {svc_s / max(sql_s, 1e-9):.2f}x same rows {same}"
              + (f" tracemalloc peak {peak:.1f} MB" if peak is not None else "")
              + f" maxrss {maxrss_mb():.0f} MB", flush=True)
    report(f"grant {prefix}", rounds)


def run_birthdays(args: argparse.Namespace) -> None:
    from loyalty.services.birthdays import birthday_chunks, birthdays_pay_chunk
    from loyalty.services.grants import ChunkResult

    def all_chunks() -> tuple[int, int]:
        total = ChunkResult()
        for start, end in birthday_chunks(size=args.chunk):
            total += birthdays_pay_chunk(member_id_from=start, member_id_to=end, today=args.today)
        print(f"  {total}")
        return total.members, total.points

    seconds, members, points, peak = by_service(all_chunks, args.tracemalloc)
    print(f"birthdays on {args.today}: {members:,} members paid {points:,} P over all members in "
          f"{seconds:.1f}s" + (f", tracemalloc peak {peak:.1f} MB" if peak is not None else "")
          + f", maxrss {maxrss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", choices=["expiry", "grant", "birthdays"])
    parser.add_argument("--today", type=date.fromisoformat, default=None)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=None, help="ids per chunk (one transaction each)")
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--prefix", default="", help="the grant's key prefix (default: a fresh one)")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    django_on_bench_db()
    from django.conf import settings

    from loyalty import clock

    if settings.DEBUG:
        sys.exit("run with DJANGO_DEBUG=0 (the query log would grow without bound)")
    if args.today is None:
        args.today = clock.today()
    elif args.job != "expiry":
        clock.today = lambda: args.today  # grants and birthdays book as of that day
    args.chunk = args.chunk or {"expiry": 5000, "grant": 5000, "birthdays": 10000}[args.job]
    print(f"{args.job} as of {args.today}, chunks of {args.chunk} ids, {args.slices} slices", flush=True)
    {"expiry": run_expiry, "grant": run_grant, "birthdays": run_birthdays}[args.job](args)


if __name__ == "__main__":
    main()
