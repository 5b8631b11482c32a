"""Member rows written set-based: one statement per chunk for the new members, one for the
changed ones, one for their "joined" tier history.

On PostgreSQL the rows go in as arrays (``INSERT … SELECT … FROM unnest(…)``, ``UPDATE …
FROM unnest(…)``): a chunk of ten thousand members is three statements, not thirty thousand.
Elsewhere (SQLite for the quick start) ``bulk_create``/``bulk_update`` do the same. The caller
holds the transaction (the loyalty import service, which also opens the points accounts).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from ..models import Member, MemberStatus, TierChange
from ..services import base_tier
from .matching import CREATE, UPDATE, PlannedRow
from .statements import rows_bound

_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# (column, SQL array type, value of a planned row to create)
_NEW_MEMBER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("external_id", "text"), ("offline_id", "text"), ("name", "text"), ("phone", "text"), ("email", "text"),
    ("birthday", "date"), ("channel", "text"), ("home_store_id", "bigint"), ("referral_code", "text"),
)


def base_tier_id() -> int:
    """The tier a new member joins (:func:`members.services.base_tier`, as ``member_upsert``)."""
    return base_tier().pk


def referral_codes(count: int) -> list[str]:
    """``count`` random referral codes in ``new_referral_code``'s alphabet (8 characters)."""
    alphabet = _REFERRAL_ALPHABET
    codes = []
    for _ in range(count):
        value = secrets.randbits(40)
        codes.append("".join(alphabet[(value >> shift) & 31] for shift in range(0, 40, 5)))
    return codes


def members_write(planned: Sequence[PlannedRow], *, now: datetime, tier_id: int) -> list[PlannedRow]:
    """Create and update the members of ``planned``; created rows get their ``member_id``.

    Returns the rows that could not be created because their id was taken meanwhile (another
    import or the API created that member after the rows were matched): the caller rejects them.
    """
    creates = [p for p in planned if p.action == CREATE]
    updates = [p for p in planned if p.action == UPDATE]
    lost: list[PlannedRow] = []
    if connection.vendor == "postgresql":
        if creates:
            lost = _create_set_based(creates, now=now, tier_id=tier_id)
        if updates:
            _update_set_based(updates, now=now)
    else:
        if creates:
            _create_by_orm(creates, now=now, tier_id=tier_id)
        if updates:
            _update_by_orm(updates, now=now)
    created = [p for p in creates if p.member_id is not None]
    if created:
        _joined_history(created, now=now, tier_id=tier_id)
    return lost


def _new_values(p: PlannedRow) -> list[Any]:
    row = p.row
    return [row.external_id, row.external_id, row.name or "", row.phone or "", row.email or "", row.birthday,
            p.channel, p.store_id]


def _create_set_based(creates: Sequence[PlannedRow], *, now: datetime, tier_id: int) -> list[PlannedRow]:
    pending = {p.row.external_id: p for p in creates}
    for _attempt in range(3):  # a referral code may collide (32⁸ codes): those rows go again with new ones
        rows = list(pending.values())
        codes = referral_codes(len(rows))
        table = [[*_new_values(p), code] for p, code in zip(rows, codes, strict=True)]
        arrays = [list(values) for values in zip(*table, strict=True)]
        columns = [column for column, _type in _NEW_MEMBER_COLUMNS]
        unnest = ", ".join(f"%b::{sql_type}[]" for _column, sql_type in _NEW_MEMBER_COLUMNS)
        constants, constant_values, constant_casts = _constant_columns(set(columns), now=now, tier_id=tier_id)
        sql = (
            f"INSERT INTO members_member ({', '.join(columns + constants)}) "  # noqa: S608 (names from the model)
            f"SELECT d.*, {', '.join(constant_casts)} FROM unnest({unnest}) AS d "
            "ON CONFLICT DO NOTHING RETURNING id, external_id"
        )
        for member_id, external_id in rows_bound(sql, [*constant_values, *arrays]):
            pending.pop(external_id).member_id = member_id
        if not pending:
            return []
        taken = set(Member.objects.filter(external_id__in=list(pending)).values_list("external_id", flat=True))
        lost = [pending.pop(external_id) for external_id in taken]
        if not pending:
            return lost
    raise RuntimeError("referral codes kept colliding")  # 3 draws of 40 random bits each: not in this universe


def _constant_columns(
    per_row: set[str], *, now: datetime, tier_id: int
) -> tuple[list[str], list[Any], list[str]]:
    """Every other column of a new member, the same for all rows: each field's default as the
    ORM would write it (so a column added to ``Member`` later with a default is filled too)."""
    given = {"status": MemberStatus.ACTIVE, "tier_id": tier_id, "joined_at": now, "updated_at": now}
    columns, values, casts = [], [], []
    for f in Member._meta.concrete_fields:
        if f.primary_key or f.column in per_row:
            continue
        value = given[f.attname] if f.attname in given else f.get_default()
        columns.append(connection.ops.quote_name(str(f.column)))
        values.append(f.get_db_prep_save(value, connection))
        casts.append(f"%s::{f.cast_db_type(connection)}")  # typed: the server binds them
    return columns, values, casts


def _update_set_based(updates: Sequence[PlannedRow], *, now: datetime) -> None:
    fields = ("name", "phone", "email", "birthday", "home_store_id", "offline_id")
    ids = [p.member_id for p in updates]
    arrays = [[p.changes.get(name) for p in updates] for name in fields]
    rows_bound(
            """
            UPDATE members_member m SET
                name = COALESCE(d.name, m.name), phone = COALESCE(d.phone, m.phone),
                email = COALESCE(d.email, m.email), birthday = COALESCE(d.birthday, m.birthday),
                birthday_changed_at = CASE WHEN d.birthday IS NOT NULL AND d.birthday IS DISTINCT FROM m.birthday
                                           THEN %s ELSE m.birthday_changed_at END,
                home_store_id = COALESCE(d.home_store_id, m.home_store_id),
                offline_id = COALESCE(m.offline_id, d.offline_id), updated_at = %s
            FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::date[], %b::bigint[], %b::text[])
                 AS d(id, name, phone, email, birthday, home_store_id, offline_id)
            WHERE m.id = d.id
            """,
            [now, now, ids, *arrays],
    )


def _create_by_orm(creates: Sequence[PlannedRow], *, now: datetime, tier_id: int) -> None:
    members = []
    for p, code in zip(creates, referral_codes(len(creates)), strict=True):
        row = p.row
        members.append(Member(
            external_id=row.external_id, offline_id=row.external_id, name=row.name or "", phone=row.phone or "",
            email=row.email or "", birthday=row.birthday, channel=p.channel, home_store_id=p.store_id,
            referral_code=code, tier_id=tier_id, joined_at=now,
        ))
    Member.objects.bulk_create(members)
    for p, member in zip(creates, members, strict=True):
        p.member_id = member.pk


def _update_by_orm(updates: Sequence[PlannedRow], *, now: datetime) -> None:
    members = Member.objects.in_bulk([p.member_id for p in updates])
    changed_fields = {"updated_at"}
    for p in updates:
        member = members[p.member_id]  # type: ignore[index]
        for name, value in p.changes.items():
            if name == "offline_id" and member.offline_id:
                continue
            if name == "birthday" and value != member.birthday:
                member.birthday_changed_at = now
                changed_fields.add("birthday_changed_at")
            setattr(member, name, value)
            changed_fields.add(name)
        member.updated_at = now
    Member.objects.bulk_update(list(members.values()), sorted(changed_fields), batch_size=500)


def _joined_history(created: Sequence[PlannedRow], *, now: datetime, tier_id: int) -> None:
    if connection.vendor == "postgresql":
        rows_bound(
            "INSERT INTO members_tierchange (member_id, to_tier_id, reason, note, changed_at) "
            "SELECT unnest(%b::bigint[]), %s::bigint, %s::text, '', %s::timestamptz",
            [[p.member_id for p in created], tier_id, TierChange.Reason.JOINED, now],
        )
        return
    TierChange.objects.bulk_create(
        TierChange(member_id=p.member_id, to_tier_id=tier_id,  # type: ignore[misc]
                   reason=TierChange.Reason.JOINED, changed_at=now)
        for p in created
    )
