"""A fresh install ships the base tier (threshold 0) that every new member joins.

An install that already has an entry tier (rank 0) keeps it as its base tier; either way
members without a tier are put in it, so the next migration can make ``tier`` required.
"""

from decimal import Decimal

from django.conf import settings
from django.db import migrations

BASE_CODE = "basic"


def base_tier_name() -> str:
    return "일반" if settings.LANGUAGE_CODE.lower().startswith("ko") else "Basic"


def forward(apps, schema_editor):
    Tier = apps.get_model("members", "Tier")
    Member = apps.get_model("members", "Member")
    base = Tier.objects.filter(code=BASE_CODE).first() or Tier.objects.filter(rank=0).first()
    if base is None:
        base = Tier.objects.create(
            code=BASE_CODE, name=base_tier_name(), rank=0, threshold=Decimal("0"), window_months=12,
            earn_multiplier=Decimal("1.00"), is_active=True,
        )
    Member.objects.filter(tier__isnull=True).update(tier=base)


def backward(apps, schema_editor):
    """Remove the shipped tier again when nothing refers to it (members keep theirs)."""
    Tier = apps.get_model("members", "Tier")
    Member = apps.get_model("members", "Member")
    TierChange = apps.get_model("members", "TierChange")
    base = Tier.objects.filter(code=BASE_CODE).first()
    if base is None:
        return
    Member.objects.filter(tier=base).update(tier=None)
    if not TierChange.objects.filter(to_tier=base).exists() and not TierChange.objects.filter(from_tier=base).exists():
        base.delete()


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
