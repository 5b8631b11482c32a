"""Opening a member file: its encoding, its format (CSV or XLSX) and which column is which.

Files are streamed: a first pass over the bytes checks the encoding and counts the lines
(for the progress bar), then rows are read one at a time, so a million-row file never sits
in memory. A file that cannot be read at all (empty, unknown encoding, wrong columns) is
refused as a whole with :class:`FileRefused`, before anything is written.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

from ..spreadsheet_text import formula_unescape

# The fields an import understands, with the headers stores write for them (compared
# without case, spaces, underscores or hyphens).
FIELDS = ("external_id", "name", "phone", "email", "birthday", "store_code", "opening_points")
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "externalid", "member_id", "memberno", "member_no", "id", "회원번호", "회원id",
                    "회원아이디", "고객번호"),
    "name": ("name", "member_name", "이름", "성명", "회원명", "고객명"),
    "phone": ("phone", "mobile", "phone_number", "휴대폰번호", "휴대폰", "휴대전화", "휴대전화번호", "전화번호",
              "연락처"),
    "email": ("email", "e-mail", "mail", "이메일", "이메일주소", "전자우편"),
    "birthday": ("birthday", "birth_date", "birthdate", "date_of_birth", "생년월일", "생일"),
    "store_code": ("store_code", "store", "home_store", "가입매장", "매장", "매장코드", "가입매장코드"),
    "opening_points": ("opening_points", "points", "balance", "보유포인트", "포인트", "잔여포인트"),
}
# Columns a member export adds (see loyalty.admin.exports): read, and left alone.
IGNORED_HEADERS = ("offline_id", "오프라인회원번호", "tier", "등급", "status", "상태", "points_balance", "포인트잔액",
                   "joined_at", "가입일시")
REQUIRED_FIELDS = ("external_id", "name")
XLSX_MAGIC = b"PK\x03\x04"
_BLOCK = 1 << 20


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-().]", "", text.strip().lower())


_ALIASES = {_header_key(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
_IGNORED = {_header_key(header) for header in IGNORED_HEADERS}


class FileRefused(Exception):
    """The whole file cannot be imported; the message says why, in plain words."""


@dataclass(frozen=True)
class SourceRow:
    """One data row as read: its line in the file and its cells as text, by field."""

    line: int
    cells: dict[str, str]
    raw: list[str]


@dataclass
class MemberFile:
    """An opened member file: its columns and an iterator over its rows."""

    path: Path
    format: str  # "csv" or "xlsx"
    encoding: str  # "utf-8", "utf-8-sig", "cp949"; "" for XLSX
    headers: list[str]
    columns: dict[str, int]  # field -> index of its column
    total_rows: int  # data rows (for CSV: lines after the header, an upper bound when cells hold line breaks)
    labels: dict[str, str] = field(default_factory=dict)  # field -> the header as the file writes it

    def label(self, name: str) -> str:
        """The column's header as the operator's file writes it (reasons name columns this way)."""
        return self.labels.get(name, name)

    def rows(self) -> Iterator[SourceRow]:
        if self.format == "xlsx":
            yield from self._xlsx_rows()
        else:
            yield from self._csv_rows()

    def _row(self, line: int, raw: list[str]) -> SourceRow:
        # CSV text was quoted against formulas on export; XLSX text is typed and never was.
        cell = _cell if self.format == "csv" else _typed_cell
        cells = {name: cell(raw[index]) if index < len(raw) else "" for name, index in self.columns.items()}
        return SourceRow(line=line, cells=cells, raw=raw)

    def _csv_rows(self) -> Iterator[SourceRow]:
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, dialect=_dialect(handle))
            next(reader, None)
            try:
                for raw in reader:
                    if not any(cell.strip() for cell in raw):
                        continue
                    yield self._row(reader.line_num, raw)
            except csv.Error as exc:  # a broken quote or a cell past the size limit: no row can follow
                raise FileRefused(_("The file cannot be read past line %(line)d: %(error)s")
                                  % {"line": reader.line_num, "error": exc}) from None

    def _xlsx_rows(self) -> Iterator[SourceRow]:
        workbook = _workbook(self.path)
        try:
            sheet = workbook.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number == 1:
                    continue
                raw = [_xlsx_text(value, self._phone_index == index) for index, value in enumerate(values)]
                if not any(cell.strip() for cell in raw):
                    continue
                yield self._row(number, raw)
        finally:
            workbook.close()

    @property
    def _phone_index(self) -> int:
        return self.columns.get("phone", -1)


def _cell(text: str) -> str:
    """A cell's text without the spaces around it; kept exactly when it was quoted against formulas.

    Only spaces go (ASCII and the ideographic one Korean keyboards type): a leading tab is part
    of the text an export wrote.
    """
    if text[:1] == "'":  # the only cells an export quoted (a row's other cells skip the check)
        original = formula_unescape(text)
        if original is not text:
            return original
    return text.strip(" \u3000\r\n")


def _typed_cell(text: str) -> str:
    return text.strip(" \u3000\r\n")


def member_file_open(path: Path | str) -> MemberFile:
    """Open ``path`` as a member list, or raise :class:`FileRefused` saying why not."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        raise FileRefused(_("The file is empty."))
    if head == XLSX_MAGIC:
        return _open_xlsx(path)
    return _open_csv(path)


def _open_csv(path: Path) -> MemberFile:
    encoding, _lines = _encoding_of(path)
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, dialect=_dialect(handle))
        headers = next(reader, None)
        # The whole file parsed once more (the csv module's C speed, no row kept): a file whose
        # quoting breaks half-way is refused before its first chunk is written, and the count
        # of rows (cells may hold line breaks) drives the progress bar.
        rows = 0
        try:
            for rows, _raw in enumerate(reader, start=1):  # noqa: B007
                pass
        except csv.Error as exc:
            raise FileRefused(_("The file cannot be read past line %(line)d: %(error)s")
                              % {"line": reader.line_num, "error": exc}) from None
    if not headers or not any(h.strip() for h in headers):
        raise FileRefused(_("The file is empty."))
    member_file = MemberFile(path=path, format="csv", encoding=encoding, headers=headers, columns={},
                             total_rows=rows)
    _map_headers(member_file)
    return member_file


def _open_xlsx(path: Path) -> MemberFile:
    workbook = _workbook(path)
    try:
        if not workbook.worksheets:
            raise FileRefused(_("The workbook has no sheet."))
        sheet = workbook.worksheets[0]
        first = next(sheet.iter_rows(max_row=1, values_only=True), None)
        total = max((sheet.max_row or 1) - 1, 0)
    finally:
        workbook.close()
    if not first or not any(value not in (None, "") for value in first):
        raise FileRefused(_("The file is empty."))
    headers = [_xlsx_text(value) for value in first]
    member_file = MemberFile(path=path, format="xlsx", encoding="", headers=headers, columns={}, total_rows=total)
    _map_headers(member_file)
    return member_file


def _workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign zip: the operator needs a sentence, not a trace
        raise FileRefused(_("The file looks like an Excel workbook but cannot be opened: %(error)s")
                          % {"error": exc}) from None


def _map_headers(member_file: MemberFile) -> None:
    """Which column holds which field; unknown or missing columns refuse the file."""
    unknown: list[str] = []
    for index, header in enumerate(member_file.headers):
        if not header.strip():
            continue
        name = _ALIASES.get(_header_key(header))
        if name is None and _header_key(header) in _IGNORED:
            continue
        if name is None:
            unknown.append(header.strip())
        elif name in member_file.columns:
            raise FileRefused(_("Two columns mean the same thing: “%(first)s” and “%(second)s”.")
                              % {"first": member_file.labels[name], "second": header.strip()})
        else:
            member_file.columns[name] = index
            member_file.labels[name] = header.strip()
    expected = ", ".join(f"{name} ({korean})" for name, korean in map(_korean_first, FIELDS))
    if unknown:
        raise FileRefused(_("Unknown columns: %(columns)s. The columns a member file may have are: %(expected)s.")
                          % {"columns": ", ".join(unknown), "expected": expected})
    missing = [name for name in REQUIRED_FIELDS if name not in member_file.columns]
    if missing:
        raise FileRefused(_("Required columns are missing: %(columns)s. The columns a member file may have are: "
                            "%(expected)s.") % {"columns": ", ".join(missing), "expected": expected})


def _korean_first(name: str) -> tuple[str, str]:
    aliases = HEADER_ALIASES[name]
    korean = next(alias for alias in aliases if not alias.isascii())
    return (name, korean)


def _dialect(handle: IO[str]) -> type[csv.Dialect]:
    """Excel's CSV, comma-separated unless the header line has more semicolons or tabs."""
    start = handle.tell()
    header = handle.readline()
    handle.seek(start)
    delimiter = max(",;\t", key=header.count)

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter if header.count(delimiter) else ","
    return Dialect


def _encoding_of(path: Path) -> tuple[str, int]:
    """The file's encoding (UTF-8 with or without BOM, else CP949) and its number of lines.

    Decoded whole, block by block: a file whose bytes fit neither encoding anywhere is
    refused before any row is imported, not half-way through.
    """
    with path.open("rb") as handle:
        bom = handle.read(3) == codecs.BOM_UTF8
    candidates = ["utf-8-sig"] if bom else ["utf-8", "cp949"]
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        lines = 0
        last = b""
        try:
            with path.open("rb") as handle:
                while block := handle.read(_BLOCK):
                    decoder.decode(block)
                    lines += block.count(b"\n")
                    last = block
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        if last and not last.endswith(b"\n"):
            lines += 1
        return encoding, lines
    raise FileRefused(_("The file's characters cannot be read: save it as CSV in UTF-8 or as Excel's "
                        "“CSV (comma delimited)” (CP949), or as an Excel workbook."))


def _xlsx_text(value: Any, phone: bool = False) -> str:
    """A cell as the text a CSV would hold: dates ISO, whole numbers without ``.0``.

    Excel stores a phone typed as a number without its leading zero (1012345678): the zero
    is put back for the phone column.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        return "0" + text if phone and text.startswith("1") else text
    return str(value)
