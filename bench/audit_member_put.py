"""What the audit trail costs the storefront's member upsert (``PUT /api/v1/members/{id}``).

In-process requests through Django's full handler, interleaved rounds with the trail on and
off (its receivers disconnected), medians per request; queries per request counted. Two
cases: a PUT that changes nothing (the shop re-sends the member on sign-in: no audit row)
and one that changes a field (one audit row).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_<you> .venv/bin/python bench/audit_member_put.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import django_on_bench_db


@contextmanager
def trail_off() -> Iterator[None]:
    """Every audit receiver disconnected, as if the trail were not installed."""
    from auditlog.context import disable_auditlog
    from django.apps import apps
    from django.db.models.signals import post_init, post_save

    from audit.tracking import TRACKED, _remember_loaded, _remember_saved

    models = [apps.get_model(label) for label in TRACKED]
    for model in models:
        post_init.disconnect(_remember_loaded, sender=model, dispatch_uid=f"audit_loaded_{model._meta.label}")
        post_save.disconnect(_remember_saved, sender=model, dispatch_uid=f"audit_saved_{model._meta.label}")
    try:
        with disable_auditlog():
            yield
    finally:
        for model in models:
            post_init.connect(_remember_loaded, sender=model, dispatch_uid=f"audit_loaded_{model._meta.label}")
            post_save.connect(_remember_saved, sender=model, dispatch_uid=f"audit_saved_{model._meta.label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per case per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    django_on_bench_db()

    from auditlog.models import LogEntry
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from loyalty.api.keys import api_key_create, api_key_revoke
    from loyalty.models import ApiKey

    issued = api_key_create(name="bench audit_member_put")
    ApiKey.objects.filter(pk=issued.key.pk).update(throttle_rate="100000/s")
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Api-Key {issued.plaintext}")
    nonce = uuid.uuid4().hex[:8]
    ids = [f"AUDIT-{nonce}-{i}" for i in range(args.requests)]

    def put(external_id: str, name: str) -> None:
        response = client.put(f"/api/v1/members/{external_id}", content_type="application/json",
                              data=json.dumps({"name": name, "phone": "010-5555-0000", "channel": "online"}))
        assert response.status_code in (200, 201), response.content

    for external_id in ids:  # create them once, and warm every cache
        put(external_id, "벤치 회원")
    counter = [0]

    def run(changed: bool) -> float:
        started = time.perf_counter()
        for external_id in ids:
            counter[0] += 1
            put(external_id, f"벤치 회원 {counter[0]}" if changed else "벤치 회원 고정")
        return (time.perf_counter() - started) / len(ids) * 1000

    for external_id in ids:
        put(external_id, "벤치 회원 고정")
    results: dict[tuple[str, str], list[float]] = {}
    for _round in range(args.rounds):
        for case in ("unchanged", "changed"):
            for trail in ("on", "off"):
                if trail == "off":
                    with trail_off():
                        ms = run(case == "changed")
                else:
                    ms = run(case == "changed")
                results.setdefault((case, trail), []).append(ms)
                if case == "changed":  # back to the fixed name, so "unchanged" really is
                    with trail_off():
                        run(False)

    queries: dict[tuple[str, str], int] = {}
    for case in ("unchanged", "changed"):
        for trail in ("on", "off"):
            with CaptureQueriesContext(connection) as captured:
                if trail == "off":
                    with trail_off():
                        put(ids[0], f"q-{case}-{trail}" if case == "changed" else "벤치 회원 고정")
                else:
                    put(ids[0], f"q-{case}-{trail}" if case == "changed" else "벤치 회원 고정")
            queries[(case, trail)] = len(captured.captured_queries)
            with trail_off():
                put(ids[0], "벤치 회원 고정")

    insert_ms: list[float] = []
    with CaptureQueriesContext(connection) as captured:
        for external_id in ids:
            counter[0] += 1
            put(external_id, f"벤치 회원 {counter[0]}")
    insert_ms = [float(q["time"]) * 1000 for q in captured.captured_queries
                 if q["sql"].startswith('INSERT INTO "auditlog_logentry"')]

    rows = LogEntry.objects.count()
    print(f"member PUT, {args.requests} members x {args.rounds} rounds, audit table {rows:,} rows, "
          f"database {connection.settings_dict['NAME']}")
    print(f"{'case':<10} {'trail':<6} {'median ms/req':>14} {'queries/req':>12}")
    for case in ("unchanged", "changed"):
        for trail in ("on", "off"):
            median = statistics.median(results[(case, trail)])
            print(f"{case:<10} {trail:<6} {median:>14.2f} {queries[(case, trail)]:>12}")
        on, off = statistics.median(results[(case, "on")]), statistics.median(results[(case, "off")])
        print(f"{case:<10} {'cost':<6} {on - off:>+14.2f} {queries[(case, 'on')] - queries[(case, 'off')]:>+12}")
    insert_ms.sort()
    print(f"the audit INSERT alone (as the client timed it): median {statistics.median(insert_ms):.2f} ms, "
          f"p95 {insert_ms[int(len(insert_ms) * 0.95) - 1]:.2f} ms over {len(insert_ms)} changed PUTs")
    api_key_revoke(issued.key)


if __name__ == "__main__":
    main()
