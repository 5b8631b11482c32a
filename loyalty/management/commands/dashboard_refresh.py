"""``manage.py dashboard_refresh``: what the hourly task does, now (e.g. right after a deploy)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from loyalty.dashboard.totals import dashboard_refresh


class Command(BaseCommand):
    help = "Sum the ledger's closed days into the dashboard's daily totals and take a snapshot of its figures."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        snapshot = dashboard_refresh()
        self.stdout.write(self.style.SUCCESS(
            f"Dashboard refreshed in {time.perf_counter() - started:.1f} s: totals through "
            f"{snapshot.totals_through}, {snapshot.members_total} members, "
            f"{snapshot.members_active_30d} active in 30 days."
        ))
