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
        self.orders: list[str] = []
        self.redemptions: list[int] = []
        self.holders: list[str] = []

    ENDPOINTS = ("bare", "balance", "purchase", "refund", "redemption", "cancel", "activity", "member_put")

    def send(self, endpoint: str, index: int) -> int:
        """One request with valid load: ``bare``; ``balance`` (a random member); ``purchase`` (a
        unique order); ``refund`` (in full, of a purchase this client made); ``redemption``
        (1,000 P by a member who holds enough); ``cancel`` (of a redemption this client made);
        ``activity`` (a unique review); ``member_put`` (a random member renamed)."""
        import random

        member = f"M{random.randint(1, self.members):09d}"
        post = self.client.post
        if endpoint == "bare":
            return int(self.client.get("/bench/bare/").status_code)
        if endpoint == "balance":
            return int(self.client.get(f"/api/v1/members/{member}/balance").status_code)
        if endpoint == "purchase":
            order_id = f"P-{self.nonce}-{endpoint}-{index}"
            self.orders.append(order_id)
            return int(post("/api/v1/purchases", content_type="application/json", data={
                "external_id": member, "order_id": order_id, "amount": "45000", "channel": "online",
                "items": [{"sku": "TEA-01", "category": "tea", "amount": "45000", "quantity": 1}],
            }).status_code)
        if endpoint == "refund":
            return int(post(f"/api/v1/purchases/{self.orders.pop()}/refunds", content_type="application/json",
                            data={"refund_id": f"F-{self.nonce}-{index}", "amount": "45000"}).status_code)
        if endpoint == "redemption":
            response = post("/api/v1/redemptions", content_type="application/json", data={
                "external_id": self.holder(), "points": 1000, "order_id": f"R-{self.nonce}-{index}",
                "order_amount": "100000"})
            if response.status_code == 201:
                self.redemptions.append(response.json()["id"])
            return int(response.status_code)
        if endpoint == "cancel":
            return int(post(f"/api/v1/redemptions/{self.redemptions.pop()}/cancel").status_code)
        if endpoint == "activity":
            return int(post("/api/v1/activities", content_type="application/json", data={
                "external_id": member, "type": "review", "reference": f"A-{self.nonce}-{index}"}).status_code)
        if endpoint == "member_put":
            return int(self.client.put(f"/api/v1/members/{member}", content_type="application/json",
                                       data={"name": f"Bench {self.nonce} {index}"}).status_code)
        raise ValueError(f"unknown endpoint {endpoint}")

    def holder(self) -> str:
        """A seeded member with at least 1,000 P available, each used once."""
        if not self.holders:
            import random

            from django.db import connection

            sample = [f"M{n:09d}" for n in random.sample(range(1, self.members + 1), min(20_000, self.members))]
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT m.external_id FROM members_member m JOIN loyalty_account a ON a.member_id = m.id "
                    "JOIN loyalty_lot l ON l.account_id = a.id WHERE m.external_id = ANY(%s) AND l.remaining > 0 "
                    "AND l.available_on <= CURRENT_DATE AND (l.expires_on IS NULL OR l.expires_on > CURRENT_DATE) "
                    "GROUP BY m.external_id, a.debt HAVING SUM(l.remaining) - a.debt >= 1000", [sample])
                self.holders = [row[0] for row in cursor.fetchall()]
        return self.holders.pop()

    def close(self) -> None:
        from loyalty.api.keys import api_key_revoke

        api_key_revoke(self.issued.key)
