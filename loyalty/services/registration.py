"""Registering a member: identity (the members service) and the points account, together."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction

from config.db.constraints import constraint_violated
from members.models import Member
from members.services import UNSET, MemberUpsert, member_save

from ..models import Account

# A concurrent sign-up with the same external id: PostgreSQL's name, and SQLite's message's.
EXTERNAL_ID_CONSTRAINTS = {f"{Member._meta.db_table}_external_id_key", f"{Member._meta.db_table}.external_id"}


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
    """Create or update a member by the shop's id, with a points account from the start.

    Fields left ``None`` are kept as they are. Two sign-ups of one id at once make one member:
    the second loses on the unique id and is run again as an update.
    """
    fields: dict[str, Any] = dict(
        external_id=external_id, name=name, phone=phone, email=email, birthday=birthday, channel=channel,
        store_code=store_code, referrer_code=referrer_code, marketing_sms=marketing_sms,
        marketing_email=marketing_email,
    )
    try:
        return _register(fields)
    except IntegrityError as error:
        if constraint_violated(error) not in EXTERNAL_ID_CONSTRAINTS:
            raise
        return _register(fields)


def _register(fields: dict[str, Any]) -> MemberUpsert:
    with transaction.atomic(durable=True):
        saved = member_save(**fields)
        if saved.created:
            Account.objects.create(member=saved.member)
        return saved
