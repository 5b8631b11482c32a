"""Member imports: a store's list becomes members and opening balances, or says why not."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import translation

from loyalty.models import Account, LedgerEntry, Lot, Operation, OutboxMessage, SystemAccount
from loyalty.services import member_register, points_import_opening
from loyalty.services.imports import (
    member_import_confirm,
    member_import_preview,
    member_import_run,
    member_import_upload,
)
from members.imports.jobs import ImportState, MemberImport, MemberImportRejection
from members.models import Channel, Member, MemberStatus, Store, Tier
from members.phone import normalize_phone
from tests.conftest import LedgerSnapshot, account_of, new_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


@pytest.fixture(autouse=True)
def _in_english():
    """Reasons are asserted in English (the admin shows them in the operator's language)."""
    with translation.override("en"):
        yield

DATA = Path(__file__).resolve().parent.parent / "data" / "members"
STORES = {"GN01": Channel.OFFLINE, "HD02": Channel.OFFLINE, "SM03": Channel.OFFLINE, "BS04": Channel.OFFLINE,
          "ONLINE": Channel.ONLINE}


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    """Uploads go to the test's own folder."""
    settings.DANGOL_IMPORT_DIR = tmp_path / "imports"


@pytest.fixture
def stores(db):
    return {code: Store.objects.create(code=code, name=code, channel=channel) for code, channel in STORES.items()}


@pytest.fixture
def base_tier(db):
    return Tier.objects.get_or_create(code="basic", defaults={"name": "일반", "rank": 0})[0]


def upload(path: Path, **kwargs) -> MemberImport:
    with path.open("rb") as handle:
        return member_import_upload(file=handle, file_name=path.name, **kwargs)


def write_csv(tmp_path: Path, rows: list[list[str]], name: str = "m.csv") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


HEADER = ["external_id", "name", "phone", "email", "birthday", "store_code", "opening_points"]


def import_file(path: Path, **kwargs) -> MemberImport:
    job = upload(path, **kwargs)
    member_import_run(job.pk, chunk_rows=kwargs.pop("chunk_rows", 64))
    job.refresh_from_db()
    return job


def members_as_imported() -> list[tuple[object, ...]]:
    imported = {op.key.removeprefix("import:"): op.result["points"]
                for op in Operation.objects.filter(key__startswith="import:")}
    return sorted(
        (m.external_id, m.offline_id, m.name, m.phone, m.email, m.birthday, m.home_store.code, m.channel, m.tier_id,
         imported.get(m.external_id, 0), account_of(m).balance)
        for m in Member.objects.select_related("home_store")
    )


def expected_from_canonical_file() -> list[tuple[object, ...]]:
    """The utf-8 sample read with nothing but the csv module: the truth the imports must reach."""
    with (DATA / "members_utf8.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    tier_id = Tier.objects.order_by("rank").values_list("pk", flat=True).first()
    from datetime import date

    return sorted(
        (r["external_id"], r["external_id"], r["name"], normalize_phone(r["phone"]), r["email"],
         date.fromisoformat(r["birthday"]), r["store_code"], STORES[r["store_code"]], tier_id,
         int(r["opening_points"]), int(r["opening_points"]))
        for r in rows
    )


@pytest.mark.parametrize("name", ["members_utf8.csv", "members_cp949.csv", "members_utf8_bom.csv"])
def test_each_sample_file_imports_to_the_same_members(stores, base_tier, frozen_clock, name):
    job = import_file(DATA / name)
    assert job.state == ImportState.DONE
    assert (job.created_count, job.rejected_count, job.processed_rows) == (200, 0, 200)
    assert members_as_imported() == expected_from_canonical_file()
    with_points = [row for row in expected_from_canonical_file() if row[9]]
    assert (job.opening_count, job.opening_points) == (len(with_points), sum(row[9] for row in with_points))


def test_every_new_member_gets_an_account_the_base_tier_and_a_joined_history(stores, base_tier, frozen_clock):
    Tier.objects.create(code="gold", name="골드", rank=2)
    import_file(DATA / "members_utf8.csv")
    assert Account.objects.filter(member__isnull=False).count() == 200
    assert set(Member.objects.values_list("tier_id", flat=True)) == {base_tier.pk}
    assert Member.objects.filter(tier_changes__reason="joined").count() == 200


def test_the_faulty_file_rejects_its_seven_rows_with_reasons_and_imports_the_other_thirteen(
        stores, base_tier, frozen_clock):
    job = import_file(DATA / "members_with_errors.csv")
    assert (job.created_count, job.rejected_count) == (13, 7)
    reasons = {r.line: (r.column, r.reason) for r in MemberImportRejection.objects.filter(job=job)}
    assert sorted(reasons) == [5, 7, 9, 11, 13, 15, 17]
    assert reasons[5][0] == "phone" and "earlier row" in reasons[5][1]
    assert reasons[7][0] == "birthday" and "1990-13-45" in reasons[7][1]
    assert reasons[9][0] == "opening_points" and "negative" in reasons[9][1]
    assert reasons[11][0] == "name" and "empty" in reasons[11][1]
    assert reasons[13][0] == "phone" and "02-123" in reasons[13][1]
    assert reasons[15][0] == "opening_points" and "1,000P" in reasons[15][1]
    assert reasons[17][0] == "external_id" and "OFF000015" in reasons[17][1]
    cells = MemberImportRejection.objects.get(job=job, line=11).cells
    assert cells[0] == "OFF000010" and all(isinstance(cell, str) for cell in cells)  # the row as the file had it
    assert Member.objects.get(external_id="OFF000018").name == '=HYPERLINK("http://x")'
    assert not Member.objects.filter(external_id__in=["OFF000004", "OFF000006", "OFF000008", "OFF000010",
                                                      "OFF000012", "OFF000014"]).exists()
    assert Member.objects.get(external_id="OFF000015").name == "안진연"  # the first of the two rows


def test_importing_a_file_again_adds_no_points(stores, base_tier, frozen_clock):
    first = import_file(DATA / "members_utf8.csv")
    before = LedgerSnapshot.take()
    again = import_file(DATA / "members_cp949.csv")
    assert LedgerSnapshot.take() == before
    assert (again.created_count, again.updated_count, again.unchanged_count, again.rejected_count) == (0, 0, 200, 0)
    assert (again.opening_count, again.opening_already_count) == (0, first.opening_count)


def test_a_different_opening_amount_for_an_imported_member_is_rejected_and_nothing_of_the_row_changes(
        stores, base_tier, frozen_clock, tmp_path):
    import_file(write_csv(tmp_path, [HEADER, ["A1", "김하나", "010-1111-2222", "", "", "GN01", "1000"]]))
    job = import_file(write_csv(tmp_path, [HEADER, ["A1", "김두울", "", "", "", "", "1500"]], "again.csv"))
    (rejection,) = MemberImportRejection.objects.filter(job=job)
    assert "1000" in rejection.reason and "1500" in rejection.reason and "adjustment" in rejection.reason
    member = Member.objects.get(external_id="A1")
    assert (member.name, account_of(member).balance) == ("김하나", 1000)


def test_an_online_member_with_the_phone_is_linked_and_updated_not_duplicated(stores, base_tier, frozen_clock,
                                                                               tmp_path):
    online = member_register(external_id="shop-77", name="김온라", phone="01055556666", email="on@example.com",
                           channel="online").member
    job = import_file(write_csv(tmp_path, [HEADER, ["OFF-9", "", "+82 10-5555-6666", "", "1990.1.2", "GN01", "700"]]))
    assert (job.created_count, job.updated_count) == (0, 1)
    online.refresh_from_db()
    assert online.offline_id == "OFF-9"
    assert (online.name, online.email, online.channel) == ("김온라", "on@example.com", "online")  # blanks keep values
    assert online.birthday.isoformat() == "1990-01-02" and online.home_store.code == "GN01"
    assert Member.objects.count() == 1
    assert Operation.objects.get(key="import:shop-77").result["points"] == 700
    # and the next file finds them by the offline id
    job = import_file(write_csv(tmp_path, [HEADER, ["OFF-9", "김온라", "", "", "", "", "700"]], "2.csv"))
    assert (job.unchanged_count, job.opening_already_count, Member.objects.count()) == (1, 1, 1)


def test_a_phone_two_active_members_share_is_ambiguous(stores, base_tier, frozen_clock, tmp_path):
    new_member(phone="010-3333-4444")
    new_member(phone="010-3333-4444")
    job = import_file(write_csv(tmp_path, [HEADER, ["N1", "이새롬", "01033334444", "", "", "GN01", ""]]))
    (rejection,) = MemberImportRejection.objects.filter(job=job)
    assert rejection.column == "phone" and "2 members" in rejection.reason
    assert not Member.objects.filter(external_id="N1").exists()


def test_a_merged_member_is_not_matched_by_phone(stores, base_tier, frozen_clock, tmp_path):
    gone = new_member(phone="010-3333-4444")
    Member.objects.filter(pk=gone.pk).update(status=MemberStatus.MERGED)
    job = import_file(write_csv(tmp_path, [HEADER, ["N1", "이새롬", "01033334444", "", "", "GN01", ""]]))
    assert job.created_count == 1


def test_a_phone_of_another_member_cannot_be_given_to_a_matched_member(stores, base_tier, frozen_clock, tmp_path):
    new_member(external_id="X1", phone="010-1000-2000")
    new_member(external_id="X2", phone="010-1000-3000")
    job = import_file(write_csv(tmp_path, [HEADER, ["X1", "", "010-1000-3000", "", "", "", ""]]))
    (rejection,) = MemberImportRejection.objects.filter(job=job)
    assert "X2" in rejection.reason
    assert Member.objects.get(external_id="X1").phone == "01010002000"


def test_unknown_store_codes_reject_their_rows_and_the_preview_lists_them(stores, base_tier, frozen_clock,
                                                                          tmp_path):
    path = write_csv(tmp_path, [HEADER, ["S1", "가", "", "", "", "ZZ99", ""], ["S2", "나", "", "", "", "YY01", ""],
                                ["S3", "다", "", "", "", "GN01", ""], ["S4", "라", "", "", "", "", ""]])
    job = upload(path)
    tally = member_import_preview(job)
    job.refresh_from_db()
    assert job.preview["unknown_stores"] == ["YY01", "ZZ99"]
    assert (tally.created, tally.rejected) == (2, 2)
    assert "ZZ99" in job.preview["rejected"][0]["reason"]


def test_the_store_option_fills_blank_store_cells(stores, base_tier, frozen_clock, tmp_path):
    import_file(write_csv(tmp_path, [HEADER, ["S1", "가", "", "", "", "", ""], ["S2", "나", "", "", "", "HD02", ""]]),
                default_store_code="SM03")
    assert dict(Member.objects.values_list("external_id", "home_store__code")) == {"S1": "SM03", "S2": "HD02"}


def test_the_preview_writes_nothing_and_sends_nothing(stores, base_tier, frozen_clock):
    new_member(phone="010-3201-2033")  # OFF000001's phone: the preview finds them
    before = LedgerSnapshot.take()
    members = list(Member.objects.values())
    job = upload(DATA / "members_cp949.csv")
    seen: list[tuple[str, int, int]] = []

    def progress(tally):
        row = MemberImport.objects.get(pk=job.pk)
        seen.append((row.state, row.processed_rows, row.progress_percent))

    with mock.patch("celery.app.task.Task.apply_async") as sent, \
            mock.patch("celery.app.task.Task.delay") as delayed:
        tally = member_import_preview(job, chunk_rows=50, progress=progress)
    assert not sent.called and not delayed.called and mail.outbox == []
    assert LedgerSnapshot.take() == before
    assert list(Member.objects.values()) == members
    assert not MemberImportRejection.objects.exists()
    assert (tally.created, tally.updated, tally.rejected) == (199, 1, 0)
    # The job page's progress bar follows the preview chunk by chunk.
    assert seen == [("previewing", 50, 25), ("previewing", 100, 50), ("previewing", 150, 75),
                    ("previewing", 200, 99)]
    job.refresh_from_db()
    assert job.state == ImportState.PREVIEWED
    assert job.preview["counts"]["created"] == 199


def test_the_upload_queues_only_the_preview_and_a_replayed_preview_changes_nothing(
        stores, base_tier, frozen_clock, django_capture_on_commit_callbacks):
    from loyalty.services.imports import member_import_preview_queue
    from loyalty.tasks import member_import_preview_task

    job = upload(DATA / "members_utf8.csv")
    from loyalty.models import OutboxMessage

    with mock.patch("loyalty.outbox.outbox_dispatch_one") as dispatch, \
            django_capture_on_commit_callbacks(execute=True):
        member_import_preview_queue(job)
    (message,) = OutboxMessage.objects.all()
    assert (message.task, message.kwargs) == ("loyalty.member_import_preview_task", {"job_id": job.pk})
    dispatch.assert_called_once_with(message.pk)
    assert member_import_preview_task(job.pk) == 200
    job.refresh_from_db()
    preview = job.preview
    assert job.state == ImportState.PREVIEWED and member_import_confirm(job)
    assert member_import_preview_task(job.pk) == 0  # redelivered after the confirmation: left alone
    job.refresh_from_db()
    assert (job.state, job.preview) == (ImportState.QUEUED, preview)


@pytest.mark.parametrize(("content", "why"), [
    (b"", "empty"),
    ("회원번호,이름,신발\nA1,김,270\n".encode(), "신발"),
    (b"external_id,name\n" + "A1,김\n".encode() * 500 + b"A2,\xff\xfe\n", "cannot be read"),
])
def test_a_file_refused_as_a_whole_writes_nothing(stores, base_tier, frozen_clock, tmp_path, content, why):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    job = import_file(path)
    assert job.state == ImportState.REFUSED and why in job.refusal
    assert Member.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_opening_points_are_booked_against_the_import_account_available_at_once(stores, base_tier, frozen_clock,
                                                                              tmp_path):
    import_file(write_csv(tmp_path, [HEADER, ["P1", "가", "", "", "", "GN01", "2500"]]))
    member = Member.objects.get(external_id="P1")
    (lot,) = Lot.objects.filter(account__member=member)
    assert (lot.available_on, lot.expires_on) == (frozen_clock.today, frozen_clock.today + timedelta(days=365))
    counter = LedgerEntry.objects.get(operation__key="import:P1", account__system_code=SystemAccount.IMPORTED)
    assert counter.points == -2500 and counter.source == "import"


def test_the_batch_import_and_the_per_member_service_agree_on_the_key(stores, base_tier, frozen_clock, tmp_path):
    member = new_member(external_id="K1")
    points_import_opening(member=member, points=400)
    job = import_file(write_csv(tmp_path, [HEADER, ["K1", "", "", "", "", "", "400"]]))
    assert (job.opening_count, job.opening_already_count) == (0, 1)
    assert account_of(member).balance == 400


def test_confirming_queues_the_run_and_the_run_keeps_progress(stores, base_tier, frozen_clock,
                                                              django_capture_on_commit_callbacks):
    job = upload(DATA / "members_utf8.csv")
    member_import_preview(job)
    seen: list[int] = []
    with mock.patch("loyalty.outbox.outbox_dispatch_one") as dispatch, \
            django_capture_on_commit_callbacks(execute=True):
        assert member_import_confirm(job)
    assert job.state == ImportState.QUEUED
    message = OutboxMessage.objects.get()  # the run waits in the outbox until the broker takes it
    assert (message.task, message.kwargs) == ("loyalty.member_import_run_task", {"job_id": job.pk})
    dispatch.assert_called_once_with(message.pk)
    member_import_run(job.pk, chunk_rows=50, progress=lambda tally: seen.append(tally.processed_rows))
    job.refresh_from_db()
    assert seen == [50, 100, 150, 200]
    assert (job.state, job.progress_percent, job.created_count) == (ImportState.DONE, 100, 200)
    assert job.duration is not None
    assert not member_import_confirm(job)  # a finished job is not queued again


def test_the_command_exits_0_1_or_2(stores, base_tier, frozen_clock, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        call_command("import_members", str(DATA / "members_with_errors.csv"), "--dry-run")
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "rows rejected 7" in out and "line 7, birthday" in out
    assert Member.objects.count() == 0

    call_command("import_members", str(DATA / "members_utf8.csv"))
    assert "members created 200" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_text("shoe\n270\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        call_command("import_members", str(bad))
    assert exit_.value.code == 2
    assert "Refused" in capsys.readouterr().err


@pytest.mark.postgres
def test_a_chunk_costs_the_same_statements_for_fifty_rows_or_five_hundred(stores, base_tier, frozen_clock, tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(count: int, prefix: str) -> int:
        block = {"W": 0, "A": 1000, "BB": 2000}[prefix]
        rows = [HEADER] + [[f"{prefix}{n}", "가나", f"0107{block + n:07d}", "", "1990-01-02", "GN01",
                            "100" if n % 2 else ""] for n in range(count)]
        job = upload(write_csv(tmp_path, rows, f"{prefix}.csv"))
        with CaptureQueriesContext(connection) as queries:
            member_import_run(job.pk, chunk_rows=count)
        job.refresh_from_db()
        assert job.created_count == count
        return len(queries)

    statements(5, "W")  # warm: the imported account's id is looked up once per process
    assert statements(50, "A") == statements(500, "BB") <= 30
