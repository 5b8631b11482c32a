"""CPU per request, split between the app's process and its PostgreSQL backend.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench .venv/bin/python bench/cpu_split.py \
        [-n 500] [bare balance purchase refund redemption cancel activity member_put]

Under load on a small machine, throughput is CPU: what one request costs in the Python process
and in the database server together. This sends ``-n`` in-process requests per endpoint through
Django's full handler (``django.test.Client``, the settings and URLconf of bench/http_api.py) and
reads the process's CPU time and its backend's (``/proc/<pg_backend_pid>/stat``, so the
database must run on this machine), after a warm-up. Valid load: see InProcessApi.send.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoints", nargs="*", help=f"of {', '.join(InProcessApi.ENDPOINTS)} (default: all); "
                        "refund and cancel undo this run's purchases and redemptions, so run them after")
    parser.add_argument("-n", type=int, default=500)
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

    print(f"{'endpoint':<10} {'wall ms':>9} {'app CPU ms':>11} {'db CPU ms':>10} {'total CPU ms':>13}")
    try:
        for endpoint in args.endpoints:
            for index in range(30):
                send(endpoint, -1 - index)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = int(cursor.fetchone()[0])
            db0, app0, wall0 = backend_cpu_seconds(pid), time.process_time(), time.perf_counter()
            for index in range(args.n):
                send(endpoint, index)
            wall = (time.perf_counter() - wall0) / args.n * 1000
            app = (time.process_time() - app0) / args.n * 1000
            db = (backend_cpu_seconds(pid) - db0) / args.n * 1000
            print(f"{endpoint:<10} {wall:>9.2f} {app:>11.2f} {db:>10.2f} {app + db:>13.2f}")
    finally:
        api.close()


if __name__ == "__main__":
    main()
