"""Member imports and exports in the admin: the operator's pages, their permissions and files."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from loyalty.exports import LedgerEntryExportResource, MemberExportResource
from loyalty.models import LedgerEntry, OutboxMessage
from loyalty.services.imports import member_import_run
from loyalty.tasks import member_import_preview_task
from members.imports.jobs import ImportState, MemberImport
from members.models import Member, MemberStatus, Store, Tier
from tests.conftest import LedgerSnapshot, give, new_member, spend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]

DATA = Path(__file__).resolve().parent.parent / "data" / "members"


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.DANGOL_IMPORT_DIR = tmp_path / "imports"


def permission(codename: str, name: str) -> Permission:
    """The custom permission on Member (added by the roles migration; made here if it is not there yet)."""
    permission, _ = Permission.objects.get_or_create(
        codename=codename, content_type=ContentType.objects.get_for_model(Member), defaults={"name": name})
    return permission


def staff(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username=username, password="pw-12345-long", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(permission(codename, codename.replace("_", " ")))
    for codename in ("view_member", "view_ledgerentry", "view_personal_data"):
        found = Permission.objects.filter(codename=codename).first()
        if found is not None:
            user.user_permissions.add(found)
    return user


@pytest.fixture
def operator(client):
    user = staff("operator", "import_members", "export_members", "view_personal_data")
    client.force_login(user)
    return user


@pytest.fixture
def stores(db):
    Tier.objects.get_or_create(code="basic", defaults={"name": "일반", "rank": 0})[0]
    for code in ("GN01", "HD02", "SM03", "BS04", "ONLINE"):
        Store.objects.create(code=code, name=code)


def upload(client, path: Path, store: str = ""):
    """Upload, then work the preview out as the worker would; the response is the job page's."""
    with path.open("rb") as handle:
        client.post(reverse("admin:members_memberimport_add"), {"file": handle, "store": store})
    job = MemberImport.objects.order_by("-pk").first()
    if job is not None and job.state == ImportState.UPLOADED:
        member_import_preview_task(job.pk)
        return client.get(reverse("admin:members_memberimport_change", args=[job.pk]))
    return None


def test_an_operator_uploads_sees_the_preview_and_confirms(client, operator, stores, frozen_clock,
                                                           django_capture_on_commit_callbacks, monkeypatch):
    before = LedgerSnapshot.take()
    previews: list[int] = []
    monkeypatch.setattr("loyalty.outbox.outbox_dispatch_one",
                        lambda pk: previews.append(OutboxMessage.objects.get(pk=pk).kwargs["job_id"]))
    with (DATA / "members_with_errors.csv").open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:members_memberimport_add"), {"file": handle, "store": ""})
    job = MemberImport.objects.get()
    # The upload only stores the file: the preview is the worker's, the job page shows its progress.
    assert response.status_code == 302 and response["Location"].endswith(f"/{job.pk}/change/")
    assert previews == [job.pk] and job.state == ImportState.UPLOADED
    page = client.get(response["Location"]).content.decode()
    assert 'id="import-progress"' in page and 'id="preview-help"' in page and "confirm-import" not in page
    status = client.get(reverse("admin:members_memberimport_status", args=[job.pk])).json()
    assert status["previewing"] and not status["finished"] and status["next"] == ""

    member_import_preview_task(job.pk)  # what the worker does
    assert Member.objects.count() == 0 and LedgerSnapshot.take() == before  # the preview wrote nothing
    status = client.get(reverse("admin:members_memberimport_status", args=[job.pk])).json()
    assert status["finished"] and status["next"].endswith(f"/{job.pk}/preview/")
    response = client.get(reverse("admin:members_memberimport_change", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == status["next"]

    job.refresh_from_db()
    page = client.get(status["next"]).content.decode()
    assert "1990-13-45" in page and "1,000P" in page
    assert job.created_by == operator and job.state == ImportState.PREVIEWED
    assert job.preview["counts"]["created"] == 13 and job.preview["counts"]["rejected"] == 7

    sent: list[int] = []
    monkeypatch.setattr("loyalty.outbox.outbox_dispatch_one", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:members_memberimport_confirm", args=[job.pk]))
    message = OutboxMessage.objects.get(task="loyalty.member_import_run_task")  # the run, in the outbox
    queued = [message.kwargs["job_id"]]
    assert response.status_code == 302 and queued == [job.pk] and sent == [message.pk]
    member_import_run(queued[0])  # what the worker does

    status = client.get(reverse("admin:members_memberimport_status", args=[job.pk])).json()
    assert status["finished"] and status["percent"] == 100 and status["counts"]["created"] == 13
    page = client.get(reverse("admin:members_memberimport_change", args=[job.pk])).content.decode()
    assert "rejected-download" in page
    history = client.get(reverse("admin:members_memberimport_changelist")).content.decode()
    assert "members_with_errors.csv" in history


def test_the_rejected_rows_download_with_line_column_and_reason_and_is_logged(client, operator, stores,
                                                                              frozen_clock, caplog):
    upload(client, DATA / "members_with_errors.csv")
    job = MemberImport.objects.get()
    member_import_run(job.pk)
    with caplog.at_level(logging.INFO, logger="dangol.personal_data"):
        response = client.get(reverse("admin:members_memberimport_rejected", args=[job.pk]))
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert [row[0] for row in rows[1:]] == ["5", "7", "9", "11", "13", "15", "17"]
    assert rows[2][1] == "birthday" and "1990-13-45" in rows[2][2]
    assert "rejected import rows" in caplog.text


def test_a_file_refused_as_a_whole_says_why_on_the_preview(client, operator, stores, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("shoe size\n270\n", encoding="utf-8")
    response = upload(client, bad)
    page = client.get(response["Location"]).content.decode()  # the job page sends to the preview's
    assert "shoe size" in page and 'id="confirm-import"' not in page
    assert MemberImport.objects.get().state == ImportState.REFUSED


def test_staff_without_the_import_permission_cannot_import(client, stores):
    client.force_login(staff("viewer"))
    assert client.get(reverse("admin:members_memberimport_add")).status_code == 403
    with (DATA / "members_utf8.csv").open("rb") as handle:
        assert client.post(reverse("admin:members_memberimport_add"), {"file": handle}).status_code == 403
    assert not MemberImport.objects.exists()


# --- exports ---------------------------------------------------------------------------


def export(client, url: str, filters: str, file_format: str = "csv", reason: str = "store audit") -> bytes:
    response = client.post(url, {"filters": filters, "ids": "", "file_format": file_format, "reason": reason})
    assert response.status_code == 200, response.content[:500]
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_member_export_honours_the_lists_filters_and_is_logged_with_its_reason(client, operator, stores,
                                                                                 caplog):
    keep = new_member(name="=HYPERLINK(\"http://x\")", phone="010-1111-2222", store_code="GN01")
    give(keep, 1500)
    gone = new_member(name="탈퇴회원")
    Member.objects.filter(pk=gone.pk).update(status=MemberStatus.WITHDRAWN)
    url = reverse("admin:members_member_export")
    assert "store audit" not in caplog.text
    form = client.get(url + "?status__exact=active").content.decode()
    assert 'name="reason"' in form and "status__exact=active" in form
    with caplog.at_level(logging.INFO, logger="dangol.personal_data"):
        body = export(client, url, "status__exact=active").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert [row[0] for row in rows[1:]] == [keep.external_id]
    assert rows[1][1] == "'=HYPERLINK(\"http://x\")"  # opens as text in a spreadsheet
    assert rows[1][MemberExportResource.Meta.fields.index("points_balance")] == "1500"  # a number, not text
    assert "store audit" in caplog.text and "rows=1" in caplog.text


def test_an_export_needs_a_reason_and_the_export_permission(client, stores, caplog):
    new_member()
    url = reverse("admin:members_member_export")
    client.force_login(staff("looker"))
    assert client.get(url).status_code == 403
    client.force_login(staff("exporter", "export_members"))
    with caplog.at_level(logging.INFO, logger="dangol.personal_data"):
        response = client.post(url, {"filters": "", "ids": "", "file_format": "csv", "reason": " "})
    assert response.status_code == 200 and b"errorlist" in response.content
    assert "personal data exported" not in caplog.text


def test_an_exported_member_file_imports_back_to_exactly_the_same_text(client, operator, stores, frozen_clock,
                                                                       tmp_path):
    names = ["=1+1", "+82 name", "-minus", "@at", "\tTab", "'=quoted", "'plain", "보통 이름"]
    for index, name in enumerate(names):
        new_member(external_id=f"RT{index}", name=name, phone=f"010-5000-00{index:02d}", store_code="GN01")
    before = dict(Member.objects.values_list("external_id", "name"))
    url = reverse("admin:members_member_export")
    for file_format in ("csv", "xlsx"):
        path = tmp_path / f"export.{file_format}"
        path.write_bytes(export(client, url, "", file_format=file_format))
        response = upload(client, path)
        job = MemberImport.objects.latest("pk")
        assert job.state == ImportState.PREVIEWED, job.refusal
        assert job.preview["counts"] == {**job.preview["counts"], "unchanged": len(names), "rejected": 0,
                                         "updated": 0, "created": 0}, response
        member_import_run(job.pk)
        assert dict(Member.objects.values_list("external_id", "name")) == before


def test_xlsx_keeps_formula_text_as_text_and_numbers_as_numbers(client, operator, stores, frozen_clock, tmp_path):
    from openpyxl import load_workbook

    member = new_member(name="=cmd|' /C calc'!A0", store_code="GN01")
    give(member, 1700)
    spend(member, 1200, order_amount="100000")
    url = reverse("admin:loyalty_ledgerentry_export")
    path = tmp_path / "entries.xlsx"
    path.write_bytes(export(client, url, "kind__exact=redeem", file_format="xlsx"))
    sheet = load_workbook(path).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    column = LedgerEntryExportResource.Meta.fields.index  # headers follow the language; the order does not
    (entry,) = [row for row in rows[1:] if row[column("member")] == member.external_id]
    (counter,) = [row for row in rows[1:] if row[column("account")] == "redeemed"]
    assert entry[column("points")] == -1200  # a number, negative, not text
    assert counter[column("points")] == 1200
    assert LedgerEntry.objects.filter(kind="redeem", account__member=member).count() == 1

    path = tmp_path / "members.xlsx"
    path.write_bytes(export(client, reverse("admin:members_member_export"), "", file_format="xlsx"))
    cells = list(load_workbook(path).worksheets[0].iter_rows())
    name_cell = cells[1][1]
    assert name_cell.value == "=cmd|' /C calc'!A0" and name_cell.data_type == "s"
