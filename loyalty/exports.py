"""Exports of members and ledger entries as CSV or XLSX, streamed, safe to open in a spreadsheet.

The columns are django-import-export resources (one field per column, headers translated);
the rows are written here, streamed from the database in chunks, because the library's own
export builds the whole file in memory (a tablib Dataset) and a member list runs to millions.
Text that a spreadsheet would run as a formula is written so it opens as text and imports back
exactly (:mod:`members.spreadsheet_text`); numbers stay numbers, dates stay dates.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import pgettext_lazy
from import_export import resources
from import_export.fields import Field

from members.models import Member
from members.privacy import email_for, phone_for
from members.spreadsheet_text import formula_escape

from .models import LedgerEntry

CHUNK = 2000


class MemberExportResource(resources.ModelResource):
    """A member per row; the first six columns are the import's, so the file imports back."""

    external_id = Field(column_name=pgettext_lazy("member file column", "external_id"))
    name = Field(column_name=pgettext_lazy("member file column", "name"))
    phone = Field(column_name=pgettext_lazy("member file column", "phone"))
    email = Field(column_name=pgettext_lazy("member file column", "email"))
    birthday = Field(column_name=pgettext_lazy("member file column", "birthday"))
    store_code = Field(column_name=pgettext_lazy("member file column", "store_code"))
    offline_id = Field(column_name=pgettext_lazy("member file column", "offline_id"))
    tier = Field(column_name=pgettext_lazy("member file column", "tier"))
    status = Field(column_name=pgettext_lazy("member file column", "status"))
    points_balance = Field(column_name=pgettext_lazy("member file column", "points_balance"))
    joined_at = Field(column_name=pgettext_lazy("member file column", "joined_at"))

    class Meta:
        model = Member
        fields = ("external_id", "name", "phone", "email", "birthday", "store_code", "offline_id", "tier", "status",
                  "points_balance", "joined_at")
        export_order = fields

    def __init__(self, user: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user  # phones and e-mails as this user may see them (members.privacy)

    @staticmethod
    def rows(queryset: QuerySet[Member]) -> QuerySet[Member]:
        return queryset.select_related("home_store", "tier", "account").order_by("pk")

    def dehydrate_external_id(self, member: Member) -> str:
        return member.external_id

    def dehydrate_name(self, member: Member) -> str:
        return member.name

    def dehydrate_phone(self, member: Member) -> str:
        return phone_for(self.user, member.phone)

    def dehydrate_email(self, member: Member) -> str:
        return email_for(self.user, member.email)

    def dehydrate_birthday(self, member: Member) -> date | None:
        return member.birthday

    def dehydrate_store_code(self, member: Member) -> str:
        return member.home_store.code if member.home_store else ""

    def dehydrate_offline_id(self, member: Member) -> str:
        return member.offline_id or ""

    def dehydrate_tier(self, member: Member) -> str:
        return member.tier.name if member.tier else ""

    def dehydrate_status(self, member: Member) -> str:
        return str(member.get_status_display())

    def dehydrate_points_balance(self, member: Member) -> int | None:
        account = getattr(member, "account", None)
        return account.balance if account is not None else None

    def dehydrate_joined_at(self, member: Member) -> datetime:
        return timezone.localtime(member.joined_at).replace(tzinfo=None)


class LedgerEntryExportResource(resources.ModelResource):
    """A ledger entry per row, as the ledger list shows it."""

    entry_id = Field(column_name=pgettext_lazy("member file column", "entry id"))
    occurred_at = Field(column_name=pgettext_lazy("member file column", "occurred at"))
    member = Field(column_name=pgettext_lazy("member file column", "member"))
    account = Field(column_name=pgettext_lazy("member file column", "account"))
    kind = Field(column_name=pgettext_lazy("member file column", "kind"))
    source = Field(column_name=pgettext_lazy("member file column", "source"))
    points = Field(column_name=pgettext_lazy("member file column", "points"))
    balance_after = Field(column_name=pgettext_lazy("member file column", "balance after"))
    reference = Field(column_name=pgettext_lazy("member file column", "reference"))
    order_id = Field(column_name=pgettext_lazy("member file column", "order id"))
    description = Field(column_name=pgettext_lazy("member file column", "description"))

    class Meta:
        model = LedgerEntry
        fields = ("entry_id", "occurred_at", "member", "account", "kind", "source", "points", "balance_after",
                  "reference", "order_id", "description")
        export_order = fields

    def __init__(self, user: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user

    @staticmethod
    def rows(queryset: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
        return queryset.select_related("account__member").order_by("-id")

    def dehydrate_entry_id(self, entry: LedgerEntry) -> int:
        return entry.pk

    def dehydrate_occurred_at(self, entry: LedgerEntry) -> datetime:
        return timezone.localtime(entry.occurred_at).replace(tzinfo=None)

    def dehydrate_member(self, entry: LedgerEntry) -> str:
        member = entry.account.member
        return member.external_id if member else ""

    def dehydrate_account(self, entry: LedgerEntry) -> str:
        return entry.account.system_code or ""

    def dehydrate_kind(self, entry: LedgerEntry) -> str:
        return str(entry.get_kind_display())

    def dehydrate_source(self, entry: LedgerEntry) -> str:
        return str(entry.get_source_display())

    def dehydrate_points(self, entry: LedgerEntry) -> int:
        return entry.points

    def dehydrate_balance_after(self, entry: LedgerEntry) -> int | None:
        return entry.balance_after

    def dehydrate_reference(self, entry: LedgerEntry) -> str:
        return entry.reference

    def dehydrate_order_id(self, entry: LedgerEntry) -> str:
        return entry.order_id

    def dehydrate_description(self, entry: LedgerEntry) -> str:
        return entry.description


def export_rows(resource: resources.ModelResource, queryset: QuerySet[Any]) -> Iterator[list[Any]]:
    """The header, then a row per object, read from the database a chunk at a time."""
    yield resource.get_export_headers()
    for obj in resource.rows(queryset).iterator(chunk_size=CHUNK):  # type: ignore[attr-defined]
        yield resource.export_resource(obj)


def _csv_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return formula_escape(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return value  # numbers as numbers


def csv_stream(rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (so Excel on Korean Windows shows Hangul), CRLF, a block at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()
    for number, row in enumerate(rows, start=1):
        writer.writerow([_csv_text(value) for value in row])
        if number % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def xlsx_file(rows: Iterable[list[Any]]) -> Any:
    """A workbook written row by row (openpyxl's write-only mode) into a temporary file.

    Text goes in as string cells, never as formulas, whatever it starts with; numbers and dates
    keep their types.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would take "=…" for a formula
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it once sent)
    workbook.save(handle)
    handle.seek(0)
    return handle
