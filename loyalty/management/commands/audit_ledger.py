"""``manage.py audit_ledger``: check every ledger invariant on the whole database."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from loyalty.invariants import violations
from loyalty.models import Account


class Command(BaseCommand):
    help = "Check every invariant of the points ledger; exit non-zero naming the accounts that fail."

    def handle(self, *args: Any, **options: Any) -> None:
        found = violations()
        if not found:
            accounts = Account.objects.filter(member__isnull=False).count()
            self.stdout.write(self.style.SUCCESS(f"Ledger sound: {accounts} member accounts, all invariants hold."))
            return
        members = dict(
            Account.objects.filter(pk__in={v.account_id for v in found if v.account_id})
            .values_list("pk", "member__external_id")
        )
        for violation in found:
            who = f" (member {members[violation.account_id]})" if violation.account_id in members else ""
            self.stderr.write(f"{violation}{who}")
        raise CommandError(f"{len(found)} ledger invariant violation(s) found.")
