"""Campaign factories: campaigns are drafted with the ORM (their admin form does the same)
and launched through the service, as an approver would."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from campaigns.models import Campaign, CampaignKind
from campaigns.provider import campaigns_cache_clear
from campaigns.services import campaign_launch
from members.roles import APPROVER, roles_sync
from tests.conftest import unique


@pytest.fixture(autouse=True)
def _campaign_cache_cleared():
    campaigns_cache_clear()
    yield
    campaigns_cache_clear()


def approver() -> User:
    roles_sync()
    user = User.objects.create_user(unique("approver"), password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=APPROVER))
    return User.objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


def draft(**fields: Any) -> Campaign:
    now = timezone.now()
    fields.setdefault("name", unique("캠페인"))
    fields.setdefault("kind", CampaignKind.MULTIPLIER)
    fields.setdefault("starts_at", now - timedelta(days=1))
    fields.setdefault("ends_at", now + timedelta(days=7))
    if fields["kind"] == CampaignKind.MULTIPLIER:
        fields.setdefault("multiplier", Decimal("2"))
    tiers, stores = fields.pop("tiers", ()), fields.pop("stores", ())
    campaign = Campaign.objects.create(**fields)
    campaign.tiers.set(tiers)
    campaign.stores.set(stores)
    return campaign


def launched(**fields: Any) -> Campaign:
    campaign = draft(**fields)
    return campaign_launch(campaign_id=campaign.pk, actor=approver())
