"""Server time and query count of the operations admin's pages, at bench scale.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_<you> \
        .venv/bin/python bench/admin_pages.py [--runs 15] [--warmup 2] [--only ledger] \
        [--url "name=/admin/some/page/?q=x" ...]

Each page is requested through Django's full handler (``django.test.Client``: middleware,
sessions, authentication, template rendering) as a logged-in superuser, ``--warmup`` times
unmeasured and then ``--runs`` times; the script prints the median and 95th percentile of the
server time and the number of SQL queries of the last run. No network, no browser: this is the
time the server spends on a page, the figure the issue's 300 ms target is about.

The ids, phone, name and order id in the URLs are read from the database, so the pages show
real rows: a member from the middle of the seed (``--member-index``), the phone of that member
written with dashes (the search must find any notation), a Korean full name of three or more
syllables when the seed has one (otherwise a name nobody has: the search then measures a miss,
and the line says so), and the order id of that member's latest purchase. ``--url`` adds pages
(e.g. ones another branch adds); its value is ``name=path`` or just a path.

Like the other bench scripts it refuses any database whose name lacks "bench", and it never
writes anything but the bench superuser (``bench-admin``) and its sessions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_on_bench_db

BENCH_USER = "bench-admin"
FALLBACK_KOREAN_NAME = "김민준"


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    note: str = ""


@dataclass(frozen=True)
class Sample:
    median_ms: float
    p95_ms: float
    queries: int
    status: int
    size_kb: float


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (no interpolation: with 15 runs, p95 is the slowest but none)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def dashed(phone: str) -> str:
    """``01012345678`` -> ``010-1234-5678``: how an operator types it from a receipt."""
    if len(phone) == 11:
        return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    return phone


def pages_from_database(member_index: int) -> list[Page]:
    """The issue's pages, with ids, phone, name and order id read from the bench database."""
    from django.db import connection

    from bench.harness import seeded_members
    from members.models import Member

    members = seeded_members()
    index = member_index or members // 2
    member = Member.objects.filter(external_id=f"M{index:09d}").first() or Member.objects.order_by("pk").first()
    if member is None:
        sys.exit("no members in this database: run bench/seed.py first")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT order_id FROM loyalty_purchase WHERE member_id = %s ORDER BY occurred_at DESC LIMIT 1",
            [member.pk],
        )
        row = cursor.fetchone()
        order_id = row[0] if row else "no-such-order"
        # A Korean full name (3+ syllables) that exists, found with a bounded scan.
        cursor.execute("SELECT name FROM members_member WHERE name ~ '^[가-힣]{3,}$' LIMIT 1")
        row = cursor.fetchone()
    korean_name, name_note = (row[0], "") if row else (FALLBACK_KOREAN_NAME, "(no Korean names seeded: a miss)")
    phone = member.phone
    return [
        Page("dashboard", "/admin/"),
        Page("member list", "/admin/members/member/"),
        Page("member search: phone", f"/admin/members/member/?q={quote(dashed(phone))}", dashed(phone)),
        Page("member search: phone digits", f"/admin/members/member/?q={quote(phone)}", phone),
        Page("member search: Korean name", f"/admin/members/member/?q={quote(korean_name)}",
             f"{korean_name} {name_note}".strip()),
        Page("member page", f"/admin/members/member/{member.pk}/change/", member.external_id),
        Page("ledger entries", "/admin/loyalty/ledgerentry/"),
        Page("ledger search: order id", f"/admin/loyalty/ledgerentry/?q={quote(order_id)}", order_id),
        Page("purchases", "/admin/loyalty/purchase/"),
        Page("lots", "/admin/loyalty/lot/"),
    ]


def extra_pages(specs: list[str]) -> list[Page]:
    pages = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        pages.append(Page(name, path) if sep and path.startswith("/") else Page(spec, spec))
    return pages


def bench_client():  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username=BENCH_USER).first()
    if user is None:
        user = user_model.objects.create_superuser(username=BENCH_USER, email="bench-admin@example.com", password=None)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def measure(client, page: Page, runs: int, warmup: int) -> Sample:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        client.get(page.path)
    times = []
    queries = status = size = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(page.path)
            times.append((time.perf_counter() - started) * 1000)
        queries, status, size = len(captured), response.status_code, len(response.content)
    return Sample(statistics.median(times), percentile(times, 0.95), queries, status, size / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--member-index", type=int, default=0, help="seeded member number (default: the middle one)")
    parser.add_argument("--only", default="", help="measure only pages whose name contains this")
    parser.add_argument("--url", action="append", default=[], help="extra page: name=/path/ or /path/")
    args = parser.parse_args()
    django_on_bench_db()

    from django.conf import settings
    from django.db import connection

    pages = [p for p in pages_from_database(args.member_index) if args.only in p.name] + extra_pages(args.url)
    client = bench_client()
    print(f"database {connection.settings_dict['NAME']}, {args.runs} runs after {args.warmup} warm-up, "
          f"DEBUG={settings.DEBUG}, language {settings.LANGUAGE_CODE}")
    print(f"{'page':<30} {'median ms':>10} {'p95 ms':>9} {'queries':>8} {'status':>7} {'KB':>7}  url")
    for page in pages:
        sample = measure(client, page, args.runs, args.warmup)
        print(f"{page.name:<30} {sample.median_ms:>10.1f} {sample.p95_ms:>9.1f} {sample.queries:>8} "
              f"{sample.status:>7} {sample.size_kb:>7.1f}  {page.path}" + (f"  [{page.note}]" if page.note else ""))


if __name__ == "__main__":
    main()
