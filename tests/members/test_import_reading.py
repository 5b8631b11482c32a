"""Reading member files: encodings, formats, headers, and each cell checked in plain words."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from django.utils import translation

from members.imports.reading import FileRefused, member_file_open
from members.imports.validation import CleanRow, RejectedRow, RowValidator, birthday_parse


@pytest.fixture(autouse=True)
def _in_english():
    """Reasons are asserted in English (the admin shows them in the operator's language)."""
    with translation.override("en"):
        yield

DATA = Path(__file__).resolve().parent.parent / "data" / "members"
TODAY = date(2025, 3, 10)


def clean_rows(path: Path) -> list[CleanRow | RejectedRow]:
    member_file = member_file_open(path)
    validator = RowValidator(member_file, today=TODAY)
    return [validator.check(row) for row in member_file.rows()]


def values(rows: list[CleanRow | RejectedRow]) -> list[tuple[object, ...]]:
    return [(r.external_id, r.name, r.phone, r.email, r.birthday, r.store_code, r.opening_points)
            for r in rows if isinstance(r, CleanRow)]


@pytest.mark.parametrize(("name", "encoding"), [
    ("members_utf8.csv", "utf-8"), ("members_cp949.csv", "cp949"), ("members_utf8_bom.csv", "utf-8-sig"),
])
def test_the_encoding_is_detected_without_asking(name, encoding):
    assert member_file_open(DATA / name).encoding == encoding


def test_the_three_sample_files_read_as_the_same_members():
    canonical = values(clean_rows(DATA / "members_utf8.csv"))
    assert len(canonical) == 200
    assert values(clean_rows(DATA / "members_cp949.csv")) == canonical
    assert values(clean_rows(DATA / "members_utf8_bom.csv")) == canonical


def test_korean_headers_name_the_columns_in_reasons(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("회원번호,이름,휴대폰번호\nA1,김하나,02-123\n", encoding="utf-8")
    (row,) = clean_rows(path)
    assert isinstance(row, RejectedRow)
    assert row.column == "휴대폰번호"
    assert "02-123" in row.reason


def test_the_faulty_sample_has_exactly_its_seven_faults():
    rows = clean_rows(DATA / "members_with_errors.csv")
    rejected = {r.line: r for r in rows if isinstance(r, RejectedRow)}
    # the missing name is only a fault for a new member: matching decides it (see the import tests)
    assert {line: r.column for line, r in rejected.items()} == {
        5: "phone", 7: "birthday", 9: "opening_points", 13: "phone", 15: "opening_points", 17: "external_id",
    }
    assert "1990-13-45" in rejected[7].reason
    assert "negative" in rejected[9].reason
    assert "1,000P" in rejected[15].reason
    formula = next(r for r in rows if isinstance(r, CleanRow) and r.external_id == "OFF000018")
    assert formula.name == '=HYPERLINK("http://x")'


@pytest.mark.parametrize("content", [b"", b"\n", b"   \r\n"])
def test_an_empty_file_is_refused(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(FileRefused, match="empty"):
        member_file_open(path)


def test_bytes_that_are_neither_utf8_nor_cp949_are_refused_before_any_row(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"external_id,name\n" + b"A1,ok\n" * 1000 + b"A2,\xff\xff\xff\n")
    with pytest.raises(FileRefused, match="cannot be read"):
        member_file_open(path)


def test_unknown_or_missing_columns_refuse_the_file(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("id,name,shoe size\nA1,Kim,270\n", encoding="utf-8")
    with pytest.raises(FileRefused, match="shoe size"):
        member_file_open(path)
    path.write_text("이름,휴대폰번호\n김하나,010-1234-5678\n", encoding="utf-8")
    with pytest.raises(FileRefused, match="external_id"):
        member_file_open(path)


def test_an_xlsx_workbook_reads_like_the_csv(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    with (DATA / "members_utf8.csv").open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle)):
            if number and row[6]:
                row[6] = int(row[6])  # numbers as numbers,
            if number:
                row[4] = date.fromisoformat(row[4])  # dates as dates
                row[2] = int(row[2].replace("-", ""))  # and a phone typed as a number loses its 0
            sheet.append(row)
    path = tmp_path / "members.xlsx"
    workbook.save(path)
    assert member_file_open(path).format == "xlsx"
    assert values(clean_rows(path)) == values(clean_rows(DATA / "members_utf8.csv"))


@pytest.mark.parametrize(("text", "expected"), [
    ("1994-05-31", date(1994, 5, 31)), ("19940531", date(1994, 5, 31)), ("1994.5.31", date(1994, 5, 31)),
    ("1994/05/31", date(1994, 5, 31)), ("1994. 5. 31.", date(1994, 5, 31)),
    ("1990-13-45", None), ("31/05/1994", None), ("yesterday", None),
])
def test_birthdays_in_the_notations_korean_files_use(text, expected):
    assert birthday_parse(text) == expected


def test_points_with_thousands_separators_are_points_but_units_are_not(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("external_id,name,opening_points\nA1,김,\"1,000\"\nA2,이,1000P\nA3,박,\n", encoding="utf-8")
    first, second, third = clean_rows(path)
    assert isinstance(first, CleanRow) and first.opening_points == 1000
    assert isinstance(second, RejectedRow)
    assert isinstance(third, CleanRow) and third.opening_points is None


def test_a_file_broken_past_repair_is_refused_with_its_line(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("external_id,name\nA1,김\nA2," + "x" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(FileRefused, match="line 3"):
        member_file_open(path)  # before any row is read, so before any is written


@pytest.mark.parametrize("address", [
    "kim@example.com", "a.b+c@mail.co.kr", "x_y-z@sub.domain.example", "first.last@xn--3e0b707e.kr",
    "a..b@example.com", ".a@example.com", "a@example", "a@-example.com", "a@example.c", "a@exa_mple.com",
    "\"quoted name\"@example.com", "a@[127.0.0.1]", "a@localhost", "a b@example.com", "김@example.com",
    "a@example.com.", "a@" + "b" * 64 + ".com", "a" * 250 + "@example.com",
])
def test_the_quick_e_mail_check_agrees_with_djangos(address):
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from members.imports.reading import MemberFile

    try:
        validate_email(address)
        django_says = True
    except ValidationError:
        django_says = False
    member_file = MemberFile(path=Path("x.csv"), format="csv", encoding="utf-8", headers=[],
                             columns={"external_id": 0, "email": 1}, total_rows=1)
    from members.imports.reading import SourceRow

    checked = RowValidator(member_file, today=TODAY).check(
        SourceRow(line=2, cells={"external_id": "E1", "email": address}, raw=["E1", address]))
    assert isinstance(checked, CleanRow) == django_says


def test_reading_ahead_keeps_order_language_and_errors():
    from members.imports.read_ahead import read_ahead

    def produce():
        for n in range(5):
            yield n, translation.get_language()
        raise FileRefused("broken at 5")

    with translation.override("ko"):
        seen = []
        with pytest.raises(FileRefused, match="broken at 5"):
            for item in read_ahead(produce()):
                seen.append(item)
    assert seen == [(n, "ko") for n in range(5)]


def test_leaving_a_read_ahead_early_stops_its_thread():
    import threading

    from members.imports.read_ahead import read_ahead

    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    for n in read_ahead(endless(), depth=2):
        if n == 3:
            break
    assert closed.wait(2)
    assert not any(t.name == "member-import-read-ahead" for t in threading.enumerate())
