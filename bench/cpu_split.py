"""CPU per request, split between the app's process and its PostgreSQL backend.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench .venv/bin/python bench/cpu_split.py \
        [-n 500] [--rounds 1] [bare balance purchase refund redemption cancel activity member_put]

Under load on a small machine, throughput is CPU: what one request costs in the Python process
and in the database server together. This sends ``-n`` in-process requests per endpoint through
Django's full handler (``django.test.Client``, the settings and URLconf of bench/http_api.py) and
reads the process's CPU time and its backend's (``/proc/<pg_backend_pid>/stat``, so the
database must run on this machine), after a warm-up. Valid load: see InProcessApi.send.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import InProcessApi, django_on_bench_db  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_bench"
os.environ["DJANGO_DEBUG"] = "0"
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1")


def backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cell(values: Sequence[float], rounds: int) -> str:
    """One figure: the median, and with several rounds also the minimum (the least disturbed)."""
    return f"{statistics.median(values):.2f}" + (f" / {min(values):.2f}" if rounds > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoints", nargs="*", help=f"of {', '.join(InProcessApi.ENDPOINTS)} (default: all); "
                        "refund and cancel undo this run's purchases and redemptions, so run them after")
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1, help="rounds over the endpoints; with more than one, "
                        "each figure is printed as the median and the minimum (the least disturbed round)")
    args = parser.parse_args()
    args.endpoints = args.endpoints or list(InProcessApi.ENDPOINTS)
    if unknown := set(args.endpoints) - set(InProcessApi.ENDPOINTS):
        parser.error(f"unknown endpoint(s): {', '.join(sorted(unknown))}")
    django_on_bench_db()
    from django.db import connection

    api = InProcessApi("bench-cpu-split")

    def send(endpoint: str, index: int) -> None:
        if (status := api.send(endpoint, index)) not in (200, 201):
            sys.exit(f"{endpoint}: HTTP {status}")

    figures: dict[str, list[tuple[float, float, float]]] = {endpoint: [] for endpoint in args.endpoints}
    try:
        for number in range(args.rounds):
            for endpoint in args.endpoints:
                for index in range(30):
                    send(endpoint, -1 - index - 30 * number)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pid = int(cursor.fetchone()[0])
                db0, app0, wall0 = backend_cpu_seconds(pid), time.process_time(), time.perf_counter()
                for index in range(args.n):
                    send(endpoint, index + args.n * number)
                figures[endpoint].append(((time.perf_counter() - wall0) / args.n * 1000,
                                          (time.process_time() - app0) / args.n * 1000,
                                          (backend_cpu_seconds(pid) - db0) / args.n * 1000))
        print(f"{'endpoint':<10} {'wall ms':>9} {'app CPU ms':>11} {'db CPU ms':>10} {'total CPU ms':>13}"
              + ("   (median / minimum of each over the rounds)" if args.rounds > 1 else ""))
        for endpoint, rounds in figures.items():
            walls, apps, dbs = zip(*rounds, strict=True)
            totals = [app + db for app, db in zip(apps, dbs, strict=True)]
            cells = [cell(values, args.rounds) for values in (walls, apps, dbs, totals)]
            print(f"{endpoint:<10} {cells[0]:>9} {cells[1]:>11} {cells[2]:>10} {cells[3]:>13}")
    finally:
        api.close()


if __name__ == "__main__":
    main()
