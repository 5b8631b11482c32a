"""Bulk-load a benchmark-scale ledger into its own PostgreSQL database, fast, in SQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench \
        .venv/bin/python bench/seed.py --members 1000000 --entries 10000000 [--reset] [--check]

This is the one place allowed to write ledger rows directly: it builds a *fixture* for
measurement, not a business operation. What it writes satisfies :mod:`loyalty.invariants`:

* ``members_member`` + one ``loyalty_account`` per member (balance = its entries, version = n,
  debt = 0);
* per member, ``n`` purchases (exponential spread, mean ``entries / 2 / members``), each one
  ``loyalty_operation`` (kind purchase, key ``purchase:<order id>``), one ``loyalty_lot``
  (remaining = points, no movements), two ``loyalty_ledgerentry`` rows (the member's earn entry
  with version/balance_after chained, and the counter-entry on the system account ``issued``
  with null version and balance) and, unless ``--no-purchases``, one ``loyalty_purchase``;
* purchase dates spread over the last ~330 days (so a few lots are still pending), except
  every ``--due-every``-th member whose first purchase is 400 days old: its first lot is past
  its expiry date, which gives ``bench/ledger_services.py`` a known set of due accounts;
* the base tier the migrations ship (``basic``, 일반, threshold 0) plus Silver and Gold (12-month
  spend ≥ 300,000 / 1,000,000 KRW) created when missing, and each member given the tier its
  seeded 12-month spend qualifies for (1 P per 100 KRW).

How it is fast: ``INSERT … SELECT generate_series`` per chunk of members (one transaction per
chunk, so an interrupted run resumes at the next chunk), secondary indexes and unique
constraints dropped during the load and rebuilt at the end, and
``session_replication_role = replica`` so the deferred foreign-key triggers do not queue one
check per row (the rows are consistent by construction; ``--check`` runs the invariants).

``--reset`` drops and recreates the database (then migrates it with bench/migrate.py); a
re-run without it resumes an interrupted seed, or does nothing when the seed is complete.
Never point it at a database you care about: it refuses any database whose name does not
contain "bench".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIG_TABLES = (
    "members_member",
    "loyalty_account",
    "loyalty_operation",
    "loyalty_lot",
    "loyalty_ledgerentry",
    "loyalty_purchase",
)
TIERS = [  # code, name, rank, threshold (12-month spend, KRW), multiplier
    ("basic", "일반", 0, 0, "1.00"),  # shipped by migration members.0002_base_tier; kept as it is
    ("silver", "Silver", 1, 300000, "1.00"),
    ("gold", "Gold", 2, 1000000, "1.20"),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def admin_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    return parsed._replace(path="/postgres").geturl(), name


def reset_database(url: str) -> None:
    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        busy = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
        ).fetchone()[0]
        if busy:
            sys.exit(f"{name} has {busy} open connection(s); close them (e.g. a running gunicorn) first")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"recreated database {name}; migrating")
    subprocess.run([sys.executable, str(ROOT / "bench" / "migrate.py")], check=True,
                   env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.DEVNULL)


def ensure_database(url: str) -> None:
    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            log(f"created database {name}")
    subprocess.run([sys.executable, str(ROOT / "bench" / "migrate.py")], check=True,
                   env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.DEVNULL)


def state_get(conn: psycopg.Connection, key: str) -> object | None:
    row = conn.execute("SELECT value FROM bench_seed_state WHERE key = %s", (key,)).fetchone()
    return None if row is None else row[0]


def state_set(conn: psycopg.Connection, key: str, value: object) -> None:
    conn.execute(
        "INSERT INTO bench_seed_state (key, value) VALUES (%s, %s::jsonb) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        (key, json.dumps(value)),
    )


def plan(conn: psycopg.Connection, members: int, operations: int, due_every: int) -> dict[str, int]:
    """Who gets how many purchases, and the id bases; stored so a resumed run continues it."""
    bases = {}
    for table, key in (("members_member", "member"), ("loyalty_account", "account"),
                       ("loyalty_operation", "operation"), ("loyalty_lot", "lot"),
                       ("loyalty_ledgerentry", "entry"), ("loyalty_purchase", "purchase")):
        bases[key] = conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
    issued = conn.execute("SELECT id FROM loyalty_account WHERE system_code = 'issued'").fetchone()
    if issued is None:
        sys.exit("no system account 'issued': is the database migrated?")
    mean = operations / members
    conn.execute("DROP TABLE IF EXISTS bench_seed_plan")
    # n: 1 + floor(exponential), mean ≈ mean, capped at 400; first/last purchase age in seconds.
    conn.execute(
        """
        CREATE UNLOGGED TABLE bench_seed_plan AS
        SELECT member_no, n,
               SUM(n) OVER (ORDER BY member_no) - n + 1 AS first_op,
               first_s, last_s
        FROM (
            SELECT i AS member_no,
                   LEAST(400, 1 + FLOOR(-LN(1 - random()) * %(spread)s))::int AS n,
                   (120 + random() * 210) * 86400 AS first_s,
                   (random() * 60) * 86400 AS last_s
            FROM generate_series(1, %(members)s) i
        ) raw
        """,
        {"members": members, "spread": max(mean - 0.5, 0.0)},  # E[1 + floor(exp)] ≈ mean
    )
    conn.execute("ALTER TABLE bench_seed_plan ADD PRIMARY KEY (member_no)")
    total = conn.execute("SELECT SUM(n) FROM bench_seed_plan").fetchone()[0]
    info = {**{f"{k}_base": int(v) for k, v in bases.items()}, "issued": int(issued[0]),
            "members": members, "operations": int(total), "due_every": due_every}
    state_set(conn, "plan", info)
    state_set(conn, "members_done", 0)
    return info


def drop_secondary(conn: psycopg.Connection) -> None:
    """Drop the big tables' non-primary indexes and unique constraints; remember their DDL."""
    if state_get(conn, "dropped") is not None:
        return
    saved: list[dict[str, str]] = []
    for table in BIG_TABLES:
        for name, definition in conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'", (table,)
        ).fetchall():
            saved.append({"table": table, "kind": "constraint", "name": name, "ddl": definition})
        for name, definition in conn.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass AND NOT x.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
            """, (table,)
        ).fetchall():
            saved.append({"table": table, "kind": "index", "name": name, "ddl": definition})
    state_set(conn, "dropped", saved)
    for item in saved:
        if item["kind"] == "constraint":
            conn.execute(f'ALTER TABLE {item["table"]} DROP CONSTRAINT "{item["name"]}"')
        else:
            conn.execute(f'DROP INDEX "{item["name"]}"')
    conn.commit()
    log(f"dropped {len(saved)} secondary indexes/unique constraints for the load")


def restore_secondary(conn: psycopg.Connection) -> None:
    saved = state_get(conn, "dropped")
    if saved is None:
        return
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("SET max_parallel_maintenance_workers = 2")
    for item in saved:  # type: ignore[union-attr]
        started = time.perf_counter()
        if item["kind"] == "constraint":
            conn.execute(f'ALTER TABLE {item["table"]} ADD CONSTRAINT "{item["name"]}" {item["ddl"]}')
        else:
            conn.execute(item["ddl"])
        conn.commit()
        log(f"  rebuilt {item['name']} on {item['table']} in {time.perf_counter() - started:.1f}s")
    conn.execute("DELETE FROM bench_seed_state WHERE key = 'dropped'")
    conn.commit()


CHUNK_SQL = """
CREATE TEMP TABLE bench_chunk ON COMMIT DROP AS
SELECT p.member_no, k, p.n, p.first_op + k - 1 AS op_no, x.points, x.occurred_at,
       (x.occurred_at AT TIME ZONE %(tz)s)::date AS earned_on,
       SUM(x.points) OVER (PARTITION BY p.member_no ORDER BY k) AS balance_after,
       SUM(x.points) FILTER (WHERE x.occurred_at >= %(now)s - interval '12 months')
           OVER (PARTITION BY p.member_no) AS window_points
FROM bench_seed_plan p
CROSS JOIN LATERAL generate_series(1, p.n) k
CROSS JOIN LATERAL (
    SELECT 10 * (5 + ((p.first_op + k) * 7919) %% 296) AS points,
           CASE WHEN p.member_no %% %(due_every)s = 0 AND k = 1 THEN %(now)s - interval '400 days'
                ELSE %(now)s - make_interval(
                    secs => p.first_s - (p.first_s - p.last_s) * (k - 1) / GREATEST(p.n - 1, 1))
           END AS occurred_at
) x
WHERE p.member_no BETWEEN %(lo)s AND %(hi)s
"""

INSERTS = {
    "members_member": """
        INSERT INTO members_member (id, external_id, name, phone, email, birthday, channel, marketing_sms,
            marketing_email, status, referral_code, joined_at, updated_at, tier_id)
        SELECT %(member_base)s + c.member_no, 'M' || lpad(c.member_no::text, 9, '0'), 'Bench member ' || c.member_no,
               '010' || lpad(((c.member_no::bigint * 7919) %% 100000000)::text, 8, '0'),
               'm' || c.member_no || '@bench.example',
               date '1960-01-01' + ((c.member_no * 31) %% 16000),
               CASE WHEN c.member_no %% 3 = 0 THEN 'offline' ELSE 'online' END,
               c.member_no %% 2 = 0, c.member_no %% 5 = 0, 'active', 'BR' || c.member_no,
               c.occurred_at - interval '1 day', %(now)s,
               CASE WHEN c.window_points * 100 >= 1000000 THEN %(tier_gold)s
                    WHEN c.window_points * 100 >= 300000 THEN %(tier_silver)s ELSE %(tier_basic)s END
        FROM bench_chunk c WHERE c.k = 1 ORDER BY c.member_no
    """,
    "loyalty_account": """
        INSERT INTO loyalty_account (id, member_id, balance, debt, version, created_at)
        SELECT %(account_base)s + c.member_no, %(member_base)s + c.member_no, c.balance_after, 0, c.n,
               c.occurred_at - interval '1 day'
        FROM bench_chunk c WHERE c.k = c.n ORDER BY c.member_no
    """,
    "loyalty_operation": """
        INSERT INTO loyalty_operation (id, kind, key, fingerprint, result, actor_label, created_at)
        SELECT %(operation_base)s + c.op_no, 'purchase', 'purchase:B-' || c.op_no,
               md5('B-' || c.op_no) || md5(c.op_no::text),
               jsonb_build_object('order_id', 'B-' || c.op_no, 'points', c.points, 'status', 'available',
                                  'available_on', c.earned_on + 7, 'expires_on', c.earned_on + 365,
                                  'balance', jsonb_build_object('available', c.balance_after, 'pending', 0)),
               'bench-seed', c.occurred_at
        FROM bench_chunk c ORDER BY c.op_no
    """,
    "loyalty_lot": """
        INSERT INTO loyalty_lot (id, account_id, operation_id, source, points, remaining, available_on,
            expires_on, created_at)
        SELECT %(lot_base)s + c.op_no, %(account_base)s + c.member_no, %(operation_base)s + c.op_no, 'purchase',
               c.points, c.points, c.earned_on + 7, c.earned_on + 365, c.occurred_at
        FROM bench_chunk c ORDER BY c.op_no
    """,
    "loyalty_ledgerentry": """
        INSERT INTO loyalty_ledgerentry (id, operation_id, account_id, kind, source, points, balance_after, version,
            reference, order_id, description, internal_note, lot_id, occurred_at, created_at)
        SELECT %(entry_base)s + 2 * c.op_no - 1 + side, %(operation_base)s + c.op_no,
               CASE side WHEN 0 THEN %(account_base)s + c.member_no ELSE %(issued)s END,
               'earn', 'purchase',
               CASE side WHEN 0 THEN c.points ELSE -c.points END,
               CASE side WHEN 0 THEN c.balance_after END,
               CASE side WHEN 0 THEN c.k END,
               'B-' || c.op_no, 'B-' || c.op_no, 'Points for order B-' || c.op_no, '',
               CASE side WHEN 0 THEN %(lot_base)s + c.op_no END,
               c.occurred_at, c.occurred_at
        FROM bench_chunk c CROSS JOIN (VALUES (0), (1)) s(side) ORDER BY c.op_no, side
    """,
    "loyalty_purchase": """
        INSERT INTO loyalty_purchase (id, order_id, member_id, channel, amount, refunded_amount, items, points,
            points_reversed, breakdown, occurred_at, created_at, lot_id, operation_id)
        SELECT %(purchase_base)s + c.op_no, 'B-' || c.op_no, %(member_base)s + c.member_no, 'online',
               c.points * 100, 0, '[]'::jsonb, c.points, 0,
               jsonb_build_array(jsonb_build_object('source', 'rule', 'name', 'purchase rate', 'points', c.points)),
               c.occurred_at, c.occurred_at, %(lot_base)s + c.op_no, %(operation_base)s + c.op_no
        FROM bench_chunk c ORDER BY c.op_no
    """,
}


def tiers(conn: psycopg.Connection) -> dict[str, int]:
    for code, name, rank, threshold, multiplier in TIERS:
        conn.execute(
            """
            INSERT INTO members_tier (code, name, rank, basis, threshold, window_months, earn_multiplier, benefits,
                                      grace_days, is_active)
            VALUES (%s, %s, %s, 'spend', %s, 12, %s, '', 0, true) ON CONFLICT (code) DO NOTHING
            """, (code, name, rank, threshold, multiplier),
        )
    return {f"tier_{code}": pk for pk, code in conn.execute("SELECT id, code FROM members_tier").fetchall()}


ALL_DUE_SQL = """
UPDATE loyalty_lot l SET expires_on = %(expires_on)s
FROM (SELECT DISTINCT ON (lot.account_id) lot.id FROM loyalty_lot lot
      JOIN loyalty_account a ON a.id = lot.account_id AND a.member_id IS NOT NULL
      WHERE lot.remaining > 0 AND (lot.expires_on IS NULL OR lot.expires_on >= %(day)s)
      ORDER BY lot.account_id, lot.id) oldest
WHERE l.id = oldest.id
"""


def all_due(url: str, day: date) -> None:
    """Make the oldest lot still holding points of every member account expire the day before
    ``day``, so that an expiry run as of ``day`` has one due lot per member (the issue's yardstick).

    Refused on the shared ``dangol_bench`` itself: run it on your own copy
    (``createdb -T dangol_bench dangol_bench_<you>``). The lots' expiry dates are fixture data
    here (nothing else about the ledger changes, and no invariant reads them).
    """
    if urlparse(url).path.lstrip("/") == "dangol_bench":
        sys.exit("--all-due rewrites lot dates: run it on a copy of dangol_bench, not on it")
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET work_mem = '256MB'")
        changed = conn.execute(ALL_DUE_SQL, {"expires_on": day - timedelta(days=1), "day": day}).rowcount
        conn.commit()
        conn.execute("ANALYZE loyalty_lot")
    elapsed = time.perf_counter() - started
    log(f"{changed:,} lots now expire on {day - timedelta(days=1)} (due on {day}) in {elapsed:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000_000,
                        help="ledger rows wanted (two per purchase: member entry + counter-entry); "
                             "the exponential spread makes the real count close, not exact")
    parser.add_argument("--chunk", type=int, default=100_000, help="members per transaction")
    parser.add_argument("--due-every", type=int, default=500,
                        help="every Nth member has one lot already past its expiry date")
    parser.add_argument("--no-purchases", action="store_true", help="skip loyalty_purchase rows")
    parser.add_argument("--reset", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--check", action="store_true", help="run loyalty.invariants.violations() at the end")
    parser.add_argument("--all-due", metavar="DATE", type=date.fromisoformat,
                        help="on a seeded COPY: make one lot of every member due on DATE (its oldest lot that "
                             "still holds points expires the day before), for bench/batch_jobs.py; seeds nothing")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if "bench" not in urlparse(url).path:
        sys.exit("set DATABASE_URL to a database whose name contains 'bench' (e.g. .../dangol_bench)")
    if args.all_due:
        all_due(url, args.all_due)
        return
    started = time.perf_counter()
    if args.reset:
        reset_database(url)
    else:
        ensure_database(url)

    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_seed_state (key text PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET temp_buffers = '1GB'")
        tz = "Asia/Seoul"  # the programme's TIME_ZONE: lot dates are local dates
        info = state_get(conn, "plan")
        if info is None:
            existing = conn.execute("SELECT COUNT(*) FROM members_member").fetchone()[0]
            if existing:
                sys.exit(f"{existing} members already here but no seed plan: use --reset")
            info = plan(conn, args.members, args.entries // 2, args.due_every)
            conn.commit()
            log(f"planned {info['members']:,} members, {info['operations']:,} purchases "
                f"= {2 * info['operations']:,} ledger entries")
        else:
            assert isinstance(info, dict)
            if info["members"] != args.members:
                sys.exit(f"this database holds a seed plan for {info['members']:,} members: use --reset")
            log(f"resuming seed plan: {info['members']:,} members, {info['operations']:,} purchases")
        done = int(state_get(conn, "members_done") or 0)  # type: ignore[arg-type]
        now = conn.execute("SELECT COALESCE((SELECT (value #>> '{}')::timestamptz FROM bench_seed_state "
                           "WHERE key = 'now'), now())").fetchone()[0]
        state_set(conn, "now", now.isoformat())
        params = {**info, **tiers(conn), "tz": tz, "now": now}
        conn.commit()

        if done < info["members"]:
            drop_secondary(conn)
        load_started = time.perf_counter()
        rows = 0
        skip = {"loyalty_purchase"} if args.no_purchases else set()
        while done < info["members"]:
            lo, hi = done + 1, min(done + args.chunk, info["members"])
            chunk_started = time.perf_counter()
            conn.execute(CHUNK_SQL, {**params, "lo": lo, "hi": hi})
            chunk_rows = 0
            for table, sql in INSERTS.items():
                if table not in skip:
                    chunk_rows += conn.execute(sql, params).rowcount
            state_set(conn, "members_done", hi)
            conn.commit()
            rows += chunk_rows
            done = hi
            elapsed = time.perf_counter() - chunk_started
            log(f"members {lo:,}..{hi:,}: {chunk_rows:,} rows in {elapsed:.1f}s ({chunk_rows / elapsed:,.0f} rows/s)")
        load_elapsed = time.perf_counter() - load_started
        if rows:
            log(f"loaded {rows:,} rows in {load_elapsed:.1f}s = {rows / load_elapsed:,.0f} rows/s "
                "(no secondary indexes)")

        index_started = time.perf_counter()
        restore_secondary(conn)
        if state_get(conn, "finished") is None:
            for table in ("members_member", "loyalty_account", "loyalty_operation", "loyalty_lot",
                          "loyalty_ledgerentry", "loyalty_purchase"):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"(SELECT GREATEST(COALESCE(MAX(id), 0), 1) FROM {table}))")
            conn.commit()
            log(f"indexes rebuilt in {time.perf_counter() - index_started:.1f}s; VACUUM ANALYZE …")
            vacuum_started = time.perf_counter()
            conn.autocommit = True
            for table in BIG_TABLES:
                conn.execute(f"VACUUM (ANALYZE) {table}")
            conn.autocommit = False
            log(f"vacuum analyze in {time.perf_counter() - vacuum_started:.1f}s")
            state_set(conn, "finished", time.strftime("%Y-%m-%dT%H:%M:%S"))
            conn.commit()

        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in BIG_TABLES}
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    total = time.perf_counter() - started
    all_rows = sum(counts.values())
    print()
    for table, count in counts.items():
        print(f"  {table:<22} {count:>12,}")
    print(f"  database size {size}; total elapsed {total:.1f}s "
          f"({all_rows / total:,.0f} rows/s end to end incl. index rebuild and vacuum)")

    if args.check:
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from loyalty.invariants import violations

        check_started = time.perf_counter()
        found = violations()
        print(f"  invariants: {len(found)} violation(s) in {time.perf_counter() - check_started:.1f}s")
        for violation in found[:20]:
            print(f"    {violation}")
        if found:
            sys.exit(1)


if __name__ == "__main__":
    main()
