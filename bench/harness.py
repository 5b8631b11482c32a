"""What the benchmark scripts share: refusing any database but a bench one, Django, the seed."""

from __future__ import annotations

import os
import sys


def django_on_bench_db() -> None:
    """Set Django up, after checking ``DATABASE_URL`` names a ``*bench*`` database."""
    if "bench" not in os.environ.get("DATABASE_URL", ""):
        sys.exit("set DATABASE_URL to the bench database (…/dangol_bench)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_bench")
    import django

    django.setup()


def seeded_members() -> int:
    """How many members bench/seed.py loaded (members are M000000001 … M{n:09d})."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_seed_state') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT (value->>'members')::int FROM bench_seed_state WHERE key = 'plan'")
            row = cursor.fetchone()
            if row:
                return int(row[0])
    sys.exit("no bench seed in this database: run bench/seed.py first")


class InProcessApi:
    """Requests through Django's full handler (``django.test.Client``) with a bench API key.

    The key's rate is raised (see bench/README.md); :meth:`close` revokes it.
    """

    def __init__(self, name: str) -> None:
        import uuid

        from django.test import Client

        from loyalty.api.keys import api_key_create
        from loyalty.models import ApiKey

        self.members = seeded_members()
        self.issued = api_key_create(name=name)
        ApiKey.objects.filter(pk=self.issued.key.pk).update(throttle_rate="100000/s")
        self.client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Api-Key {self.issued.plaintext}")
        self.nonce = uuid.uuid4().hex[:10]

    def send(self, endpoint: str, index: int) -> int:
        """One request to ``bare``, ``balance`` (a random member) or ``purchase`` (a unique order)."""
        import random

        member = f"M{random.randint(1, self.members):09d}"
        if endpoint == "bare":
            return int(self.client.get("/bench/bare/").status_code)
        if endpoint == "balance":
            return int(self.client.get(f"/api/v1/members/{member}/balance").status_code)
        return int(self.client.post("/api/v1/purchases", content_type="application/json", data={
            "external_id": member, "order_id": f"P-{self.nonce}-{endpoint}-{index}", "amount": "45000",
            "channel": "online", "items": [{"sku": "TEA-01", "category": "tea", "amount": "45000", "quantity": 1}],
        }).status_code)

    def close(self) -> None:
        from loyalty.api.keys import api_key_revoke

        api_key_revoke(self.issued.key)
