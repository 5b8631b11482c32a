"""Tier evaluation over every member of the bench database, beside the same work in plain SQL.

    createdb -h 127.0.0.1 -U postgres -T dangol_bench dangol_bench_sched   # a copy: this writes
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_sched .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_sched .venv/bin/python \
        bench/scheduled_tasks.py [--as-of 2027-01-01] [--rounds 2] [--chunk 10000]

Each round, back to back, each phase in a fresh process (so ``ru_maxrss`` is that phase's peak):

* ``service`` — ``loyalty.tiers_evaluate_task`` with Celery eager: the run, its chunk rows, one
  chunk task per 10,000 member ids, each chunk one transaction (grouped window read, members
  locked, tiers and tier history written through ``members.services``);
* ``sql`` — one statement doing the same: window totals, the highest tier reached, UPDATE of the
  members that change and their history rows (no floors on the bench data, grace 0: on an
  evaluation date every tier may drop, so both paths do the same work);

and between them a reset putting every member's tier back (and deleting the history, the run).
Refuses any database whose name lacks "bench_" (never the shared ``dangol_bench``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SQL = """
WITH totals AS (
    SELECT member_id, SUM(amount - refunded_amount) AS total FROM loyalty_purchase
    WHERE occurred_at >= %(since)s GROUP BY member_id
), target AS (
    SELECT m.id, m.tier_id AS from_tier,
           (SELECT t.id FROM members_tier t WHERE t.is_active AND t.threshold <= COALESCE(s.total, 0)
            ORDER BY t.rank DESC LIMIT 1) AS to_tier
    FROM members_member m LEFT JOIN totals s ON s.member_id = m.id
    WHERE m.status NOT IN ('withdrawn', 'merged')
), changed AS (
    UPDATE members_member m SET tier_id = target.to_tier, updated_at = now()
    FROM target WHERE m.id = target.id AND target.to_tier IS NOT NULL AND target.to_tier <> target.from_tier
    RETURNING m.id, target.from_tier, target.to_tier
)
INSERT INTO members_tierchange (member_id, from_tier_id, to_tier_id, reason, note, changed_at)
SELECT id, from_tier, to_tier, 'evaluation', 'bench sql', now() FROM changed
"""


def setup() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if "bench_" not in url.rsplit("/", 1)[-1]:
        sys.exit("set DATABASE_URL to your own copy of the bench database (…/dangol_bench_<you>)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_bench")
    import django

    django.setup()


def phase(name: str, as_of: str, chunk: int) -> None:
    setup()
    from datetime import date

    from django.db import connection, transaction

    from loyalty.windows import local_midnight, months_before

    started = time.perf_counter()
    if name == "prepare":
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS bench_sched_tiers AS SELECT id, tier_id FROM members_member")
            cursor.execute("UPDATE loyalty_programpolicy SET tier_evaluation_day = 1, tier_evaluation_every_months = 1")
        return
    if name == "reset":
        with connection.cursor() as cursor:
            cursor.execute("UPDATE members_member m SET tier_id = b.tier_id FROM bench_sched_tiers b "
                           "WHERE m.id = b.id AND m.tier_id <> b.tier_id")
            cursor.execute("DELETE FROM members_tierchange WHERE reason = 'evaluation'")
            cursor.execute("DELETE FROM loyalty_taskchunk")
            cursor.execute("DELETE FROM loyalty_taskrun")
            cursor.execute("VACUUM ANALYZE members_member")
        return
    if name == "service":
        from config.celery import app
        from loyalty.models import TaskRun
        from loyalty.tasks import tiers_evaluate_task

        app.conf.task_always_eager = app.conf.task_eager_propagates = True
        run = TaskRun.objects.get(pk=tiers_evaluate_task(today=as_of, size=chunk))
        changed = run.counts.get("upgraded", 0) + run.counts.get("downgraded", 0)
        members = run.counts.get("members", 0)
        detail = f"run {run.status}, {run.chunks_done}/{run.chunks_total} chunks, {run.counts}"
    else:
        since = local_midnight(months_before(date.fromisoformat(as_of), 12))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SQL, {"since": since})
            changed = cursor.rowcount
        members = 1_000_000
        detail = "one statement"
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {name} {elapsed:.2f} {members} {changed} {peak_mb:.0f} | {detail}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--as-of", default="2027-01-01")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--phase")
    args = parser.parse_args()
    if args.phase:
        phase(args.phase, args.as_of, args.chunk)
        return

    def run(name: str) -> list[str]:
        out = subprocess.run([sys.executable, __file__, "--phase", name, "--as-of", args.as_of, "--chunk",
                              str(args.chunk)], capture_output=True, text=True, check=True).stdout
        line = next((line for line in out.splitlines() if line.startswith("RESULT")), "")
        if line:
            print(line, flush=True)
        return line.split()

    run("prepare")
    times: dict[str, list[float]] = {"service": [], "sql": []}
    for _ in range(args.rounds):
        for name in ("service", "sql"):
            run("reset")
            result = run(name)
            times[name].append(float(result[2]))
    run("reset")
    service, sql = statistics.median(times["service"]), statistics.median(times["sql"])
    print(f"median: service {service:.1f}s ({1_000_000 / service:,.0f} members/s), plain SQL {sql:.1f}s "
          f"({1_000_000 / sql:,.0f} members/s), ratio {service / sql:.2f}x")


if __name__ == "__main__":
    main()
