"""Where an API request's time goes: in-process requests through Django's full handler.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench .venv/bin/python bench/profile_api.py \
        [--endpoint balance|purchase|refund|redemption|cancel|activity|member_put|bare] [-n 500] [--top 25] \
        [--dump FILE]

Sends ``-n`` requests with ``django.test.Client`` (same settings, middleware and URLconf as
bench/http_api.py, minus gunicorn's HTTP parsing) and prints: mean time per request, the SQL
each request runs with its share of the time, a cProfile of the Python side sorted by
cumulative and by own time, and ``EXPLAIN ANALYZE`` of the slowest query. A refund needs a
purchase of this client's and a cancel a redemption: those are made before each phase, untimed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import InProcessApi, django_on_bench_db  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_bench"
os.environ["DJANGO_DEBUG"] = "0"
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", choices=InProcessApi.ENDPOINTS, default="balance")
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", metavar="FILE", help="also write the cProfile stats to FILE (pstats format)")
    args = parser.parse_args()
    django_on_bench_db()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = InProcessApi("bench-profile")

    def one(i: int) -> int:
        return api.send(args.endpoint, i)

    needs = {"refund": "purchase", "cancel": "redemption"}.get(args.endpoint)

    def prepare(count: int, base: int) -> None:
        """What ``count`` requests of the endpoint act on (untimed)."""
        for i in range(count if needs else 0):
            api.send(needs, base + i)  # type: ignore[arg-type]

    try:
        prepare(20 + args.n, 9 * 10**6)
        for i in range(20):  # warm-up: imports, caches, connection
            one(10**6 + i)
        started = time.perf_counter()
        statuses: dict[int, int] = defaultdict(int)
        for i in range(args.n):
            statuses[one(i)] += 1
        plain = (time.perf_counter() - started) / args.n
        print(f"{args.endpoint}: {args.n} requests, {plain * 1000:.2f} ms mean in-process "
              f"(≈{1 / plain:,.0f} req/s on one core), statuses {dict(statuses)}")

        sql_time: dict[str, list[float]] = defaultdict(list)
        sample = min(args.n, 200)
        prepare(sample, 8 * 10**6)
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            for i in range(sample):
                one(2 * 10**6 + i)
            traced = time.perf_counter() - started
        for query in captured.captured_queries:
            shape = query["sql"].split(" WHERE ")[0].split(" VALUES ")[0].split(" SET ")[0][:110]
            sql_time[shape].append(float(query["time"]))
        total_sql = sum(sum(v) for v in sql_time.values())
        print(f"\nSQL: {len(captured) / sample:.1f} queries/request, {total_sql / sample * 1000:.2f} ms/request "
              f"of {traced / sample * 1000:.2f} ms ({total_sql / traced:.0%}) — by statement:")
        for shape, times in sorted(sql_time.items(), key=lambda kv: -sum(kv[1])):
            print(f"  {len(times) / sample:4.1f}×/req {sum(times) / sample * 1000:6.2f} ms/req  {shape}")

        slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
        if slowest["sql"].lstrip().upper().startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
                plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
            print(f"\nslowest statement ({float(slowest['time']) * 1000:.2f} ms):\n  {slowest['sql'][:1500]}\n{plan}")

        prepare(args.n, 7 * 10**6)
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(args.n):
            one(3 * 10**6 + i)
        profiler.disable()
        if args.dump:
            profiler.dump_stats(args.dump)
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
            print(f"\ncProfile by {order} ({args.n} requests):")
            print("\n".join(out.getvalue().splitlines()[4:]))
    finally:
        api.close()


if __name__ == "__main__":
    main()
