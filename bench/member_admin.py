"""Server time and queries of the member admin's pages on a bench database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_<you> \
        .venv/bin/python bench/member_admin.py [--korean-names] [--rounds 7]

Requests go through Django's full handler (``django.test.Client``) as a logged-in superuser
(``bench-admin``, created when missing), so the figure is the server's time for the page:
middleware, the admin, every query, template rendering. Each page is requested once to warm
up, then ``--rounds`` times; the median and the slowest round are printed with the query
count of the last round.

The pages: the member list, a search by phone typed with dashes, a search by a Korean full
name (three syllables), a search by external id, a member's page, the list filtered by
expiring points, birthday month and tier, and a search by a phone's last four digits.

``--korean-names`` first gives every seeded member a Korean name (surname + two syllables,
deterministic by member number, about 30 members per full name, as in a real brand's
members) in one ``UPDATE``: the seed's names are ``Bench member N``. Run it once per copy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_on_bench_db

SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
SYLLABLES = "민서준지현우예도하윤은수아진영호연주성경태시재유나가다라마바사자차카타파"


def korean_names() -> None:
    """Korean names for every member, in one statement (bench copies only)."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE members_member SET name =
                substr(%(sur)s, 1 + (id %% char_length(%(sur)s))::int, 1)
                || substr(%(syl)s, 1 + ((id / 20) %% char_length(%(syl)s))::int, 1)
                || substr(%(syl)s, 1 + ((id / 800) %% char_length(%(syl)s))::int, 1)
            """,
            {"sur": SURNAMES, "syl": SYLLABLES},
        )
        cursor.execute("VACUUM ANALYZE members_member")  # autocommit: the UPDATE left 1M dead rows
    print(f"Korean names given in {time.perf_counter() - started:.1f}s")


def measure(client: object, url: str, rounds: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # type: ignore[attr-defined]
    times = []
    queries = 0
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)  # type: ignore[attr-defined]
            times.append((time.perf_counter() - started) * 1000)
        queries = len(captured)
    return statistics.median(times), max(times), queries, response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--korean-names", action="store_true", help="rename members in Korean first (once)")
    parser.add_argument("--member", default="M000500000", help="external id of the member whose page is timed")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_DEBUG", "false")
    django_on_bench_db()

    from django.contrib.auth import get_user_model
    from django.test import Client

    from members.models import Member
    from members.phone import format_phone

    if args.korean_names:
        korean_names()
    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first() or user_model.objects.create_superuser(
        "bench-admin", "bench-admin@example.com", None
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    member = Member.objects.get(external_id=args.member)
    pages = [
        ("member list", "/admin/members/member/"),
        ("search by phone (dashes)", f"/admin/members/member/?q={format_phone(member.phone)}"),
        ("search by Korean name", f"/admin/members/member/?q={member.name}"),
        ("search by external id", f"/admin/members/member/?q={member.external_id}"),
        ("member page", f"/admin/members/member/{member.pk}/change/"),
        ("filter: expiring in 30 days", "/admin/members/member/?expiring=30"),
        ("filter: birthday month", "/admin/members/member/?birthday_month=3"),
        ("filter: tier", f"/admin/members/member/?tier__id__exact={member.tier_id}"),
        ("search by last 4 digits", f"/admin/members/member/?q={member.phone[-4:]}"),
    ]
    print(f"{'page':<28} {'median ms':>10} {'max ms':>8} {'queries':>8} status  url")
    for label, url in pages:
        median, worst, queries, status = measure(client, url, args.rounds)
        print(f"{label:<28} {median:>10.1f} {worst:>8.1f} {queries:>8} {status:>6}  {url}")


if __name__ == "__main__":
    main()
