"""Which member each row names: by id, else by phone; what would change; which rows cannot go in.

Matching reads only. A row names a member by its id in the file (the member's recorded
offline id, or its external id), else by phone when exactly one active member has that phone
(an online member found this way is linked: the file's id is recorded as their offline id).
A chunk of rows costs two indexed queries, whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _

from ..models import Channel, Member, MemberStatus, Store
from .reading import FileRefused, MemberFile
from .statements import rows_bound
from .validation import CleanRow, Problem, RejectedRow

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
CLOSED_STATUSES = (MemberStatus.WITHDRAWN, MemberStatus.MERGED)
_COLUMNS = ("pk", "external_id", "offline_id", "name", "phone", "email", "birthday", "home_store_id", "status")


@dataclass
class PlannedRow:
    """What a row will do: create a member, update one (``changes``) or nothing at all."""

    row: CleanRow
    action: str
    member_id: int | None
    external_id: str  # the member's external id (the opening balance is keyed by it)
    changes: dict[str, Any] = field(default_factory=dict)
    store_id: int | None = None
    channel: str = Channel.OFFLINE


@dataclass
class ChunkPlan:
    planned: list[PlannedRow]
    rejected: list[RejectedRow]
    unknown_stores: set[str]


class RowMatcher:
    """Plans chunks of clean rows in file order, remembering the members already claimed."""

    def __init__(self, member_file: MemberFile, *, default_store_code: str = "") -> None:
        self.file = member_file
        self.stores = {code: (pk, channel) for pk, code, channel in Store.objects.values_list("pk", "code", "channel")}
        self.default_store_code = default_store_code.strip()
        if self.default_store_code and self.default_store_code not in self.stores:
            raise FileRefused(_("The store %(code)s given for rows without a store does not exist.")
                              % {"code": self.default_store_code})
        self.claimed: set[int] = set()

    def plan(self, rows: Sequence[CleanRow]) -> ChunkPlan:
        ids = [row.external_id for row in rows]
        by_offline: dict[str, dict[str, Any]] = {}
        by_external: dict[str, dict[str, Any]] = {}
        for member in _members_named(ids):
            if member["offline_id"]:
                by_offline[member["offline_id"]] = member
            by_external[member["external_id"]] = member
        phones = [row.phone for row in rows if row.phone]
        owners: dict[str, list[dict[str, Any]]] = {}
        if phones:
            for member in _members_with_phones(phones):
                owners.setdefault(member["phone"], []).append(member)

        plan = ChunkPlan(planned=[], rejected=[], unknown_stores=set())
        for row in rows:
            problem, planned = self._plan_row(row, by_offline, by_external, owners, plan.unknown_stores)
            if problem is not None:
                plan.rejected.append(RejectedRow(line=row.line, problems=[problem], raw=row.raw))
            elif planned is not None:
                if planned.member_id is not None:
                    self.claimed.add(planned.member_id)
                plan.planned.append(planned)
        return plan

    def _plan_row(
        self,
        row: CleanRow,
        by_offline: dict[str, dict[str, Any]],
        by_external: dict[str, dict[str, Any]],
        owners: dict[str, list[dict[str, Any]]],
        unknown_stores: set[str],
    ) -> tuple[Problem | None, PlannedRow | None]:
        label = self.file.label
        code = row.store_code or self.default_store_code
        store = self.stores.get(code) if code else None
        if code and store is None:
            unknown_stores.add(code)
            return Problem(label("store_code"), _(
                "The store %(code)s does not exist: create it in the admin, then import the file again."
            ) % {"code": code}), None

        member = by_offline.get(row.external_id) or by_external.get(row.external_id)
        linked_by_phone = False
        if member is None and row.phone:
            found = owners.get(row.phone, [])
            if len(found) > 1:
                return Problem(label("phone"), _(
                    "%(count)d members have the phone number %(phone)s: the row cannot say which one it means."
                ) % {"count": len(found), "phone": row.phone}), None
            if found:
                member, linked_by_phone = found[0], True
                if member["offline_id"] and member["offline_id"] != row.external_id:
                    return Problem(label("phone"), _(
                        "The phone number belongs to member %(member)s, who is already linked to the offline id "
                        "%(offline)s."
                    ) % {"member": member["external_id"], "offline": member["offline_id"]}), None

        if member is None:
            if not row.name:
                return Problem(label("name"), _("The name is empty: a new member needs a name.")), None
            return None, PlannedRow(
                row=row, action=CREATE, member_id=None, external_id=row.external_id,
                store_id=store[0] if store else None, channel=store[1] if store else Channel.OFFLINE,
            )

        if member["status"] in CLOSED_STATUSES:
            return Problem(label("external_id"), _(
                "Member %(member)s is %(status)s and cannot be changed by an import."
            ) % {"member": member["external_id"], "status": MemberStatus(member["status"]).label}), None
        if member["pk"] in self.claimed:
            return Problem(label("external_id"), _(
                "This row names member %(member)s, whom an earlier row of this file already named."
            ) % {"member": member["external_id"]}), None
        if row.phone and not linked_by_phone:
            others = [m for m in owners.get(row.phone, []) if m["pk"] != member["pk"]]
            if others:
                return Problem(label("phone"), _(
                    "The phone number belongs to another member (%(member)s)."
                ) % {"member": others[0]["external_id"]}), None

        # The store for rows without one (``--store``) fills a blank, it never moves a member.
        store_id = store[0] if store and (row.store_code or member["home_store_id"] is None) else None
        changes = _changes(member, row, store_id)
        if linked_by_phone and not member["offline_id"]:
            changes["offline_id"] = row.external_id  # linked: the store's id recorded on the online member
        return None, PlannedRow(
            row=row, action=UPDATE if changes else UNCHANGED, member_id=member["pk"],
            external_id=member["external_id"], changes=changes,
        )


# Each value of the chunk is looked up through its own index probe (a lateral join): given ten
# thousand values in an ``= ANY(array)``, the planner prefers reading the whole member table,
# which at a million members costs half a second per chunk and grows with the table.
_BY_ID_SQL = (
    "SELECT DISTINCT ON (m.id) {columns} FROM unnest(%b::text[]) AS k(value) CROSS JOIN LATERAL ("
    " SELECT * FROM members_member WHERE external_id = k.value"
    " UNION ALL SELECT * FROM members_member WHERE offline_id = k.value) AS m ORDER BY m.id"
)
_BY_PHONE_SQL = (
    "SELECT {columns} FROM unnest(%b::text[]) AS k(value) CROSS JOIN LATERAL ("
    " SELECT * FROM members_member WHERE phone = k.value AND status <> ALL(%b::text[])) AS m ORDER BY m.id"
)


def _members_named(ids: list[str]) -> list[dict[str, Any]]:
    """Members whose external id or recorded offline id is one of ``ids``, by id."""
    if connection.vendor != "postgresql":  # SQLite: no arrays; the ORM spells the same filter
        found = Member.objects.filter(Q(offline_id__in=ids) | Q(external_id__in=ids))
        return list(found.order_by("pk").values(*_COLUMNS))
    return _member_dicts(rows_bound(_BY_ID_SQL.format(columns=_SELECTED), [ids]))


def _members_with_phones(phones: list[str]) -> list[dict[str, Any]]:
    """Members not withdrawn or merged whose phone is one of ``phones``, by id."""
    if connection.vendor != "postgresql":
        found = Member.objects.filter(phone__in=phones).exclude(status__in=CLOSED_STATUSES)
        return list(found.order_by("pk").values(*_COLUMNS))
    return _member_dicts(rows_bound(_BY_PHONE_SQL.format(columns=_SELECTED), [phones, list(CLOSED_STATUSES)]))


_SELECTED = ", ".join(f"m.{'id' if name == 'pk' else name}" for name in _COLUMNS)


def _member_dicts(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def _changes(member: dict[str, Any], row: CleanRow, store_id: int | None) -> dict[str, Any]:
    """The fields the row would change; blank cells (``None``) keep the member's values."""
    wanted: dict[str, Any] = {"name": row.name, "phone": row.phone, "email": row.email, "birthday": row.birthday,
                              "home_store_id": store_id}
    return {name: value for name, value in wanted.items() if value is not None and value != member[name]}

