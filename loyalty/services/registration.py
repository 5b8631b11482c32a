"""Registering a member: identity (the members service) and the points account, together."""

from __future__ import annotations

from datetime import date
from typing import Any

from members.services import UNSET, MemberUpsert, member_upsert

from ..ledger import accounts_open


def member_register(
    *,
    external_id: str,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    birthday: date | Any | None = UNSET,
    channel: str | None = None,
    store_code: str | None = None,
    referrer_code: str | None = None,
    marketing_sms: bool | None = None,
    marketing_email: bool | None = None,
) -> MemberUpsert:
    """Create or update a member by the shop's id (``member_upsert``), with a points account
    opened in the same transaction when the member is new."""
    return member_upsert(
        external_id=external_id, name=name, phone=phone, email=email, birthday=birthday, channel=channel,
        store_code=store_code, referrer_code=referrer_code, marketing_sms=marketing_sms,
        marketing_email=marketing_email, on_saved=account_open,
    )


def account_open(saved: MemberUpsert) -> None:
    if saved.created:
        accounts_open([saved.member.pk])
