"""An operator imports a store's member list (CP949, Korean headers) in a real browser: upload, watch the
preview being worked out (leaving and coming back), read it, confirm, find the members."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from playwright.sync_api import expect

from loyalty import outbox
from loyalty.models import OutboxMessage
from loyalty.services.imports import member_import_preview
from members.imports.jobs import MemberImport
from members.models import Member, Store, Tier

from .conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

DATA = Path(__file__).resolve().parent.parent / "data" / "members"
SCREENSHOTS = Path(os.environ.get("DANGOL_IMPORT_SCREENSHOTS", "/tmp"))


@pytest.fixture
def operator(transactional_db):  # type: ignore[no-untyped-def]
    """A staff user with the operator's rights over members (the roles migration grants the same)."""
    user = get_user_model().objects.create_user(username="operator", password=STAFF_PASSWORD, is_staff=True)
    member_type = ContentType.objects.get_for_model(Member)
    for codename in ("import_members", "export_members", "view_personal_data"):
        permission, _ = Permission.objects.get_or_create(codename=codename, content_type=member_type,
                                                         defaults={"name": codename.replace("_", " ")})
        user.user_permissions.add(permission)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_member", "view_ledgerentry"]))
    return user


def test_an_operator_imports_the_cp949_file_and_finds_the_members_with_their_opening_points(  # type: ignore[no-untyped-def]
        web, operator, settings, monkeypatch, tasks_run_eagerly):
    settings.DANGOL_IMPORT_DIR = SCREENSHOTS / "dangol-browser-imports"
    Tier.objects.get_or_create(code="basic", defaults={"name": "일반", "rank": 0})
    for code in ("GN01", "HD02", "SM03", "BS04", "ONLINE"):
        Store.objects.create(code=code, name=f"{code} 매장")
    web.login(operator.username)

    previews: list[int] = []  # the preview is a worker's task: held back here, run below while the page watches
    dispatch = outbox.outbox_dispatch_one

    def preview_held(message_id: int) -> bool:  # the preview is held; the confirmed run is sent as usual
        message = OutboxMessage.objects.get(pk=message_id)
        if message.task != "loyalty.member_import_preview_task":
            return dispatch(message_id)
        previews.append(message.kwargs["job_id"])
        return False

    monkeypatch.setattr(outbox, "outbox_dispatch_one", preview_held)
    web.goto("/admin/members/memberimport/add/")
    web.page.set_input_files("#id_file", str(DATA / "members_cp949.csv"))
    with web.page.expect_navigation():
        web.page.click("input[name=_preview]")

    # The upload answers at once with the job page: the file is being checked in the background.
    (job_id,) = previews
    job_url = f"/admin/members/memberimport/{job_id}/change/"
    assert web.page.url.endswith(job_url)
    expect(web.page.locator("#preview-help")).to_be_visible()
    expect(web.page.locator("#import-percent")).to_have_text("0")
    # The operator leaves and comes back through the import history.
    web.goto("/admin/members/member/")
    web.goto("/admin/members/memberimport/")
    with web.page.expect_navigation():
        web.page.click(f'#result_list a[href$="/{job_id}/change/"]')
    expect(web.page.locator("#preview-help")).to_be_visible()

    def preview_slowly() -> None:  # the worker, a chunk of 50 rows at a time, slow enough to be watched
        try:
            member_import_preview(MemberImport.objects.get(pk=job_id), chunk_rows=50,
                                  progress=lambda tally: time.sleep(1.5))
        finally:
            connection.close()

    worker = threading.Thread(target=preview_slowly)
    worker.start()
    try:
        expect(web.page.locator("#import-processed")).to_have_text(re.compile(r"^(50|100|150)$"))
        progress = int(web.page.locator("#import-progress").get_attribute("value") or 0)
        assert 0 < progress < 100
        web.page.screenshot(path=str(SCREENSHOTS / "member-import-checking.png"), full_page=True)
        # When the preview is ready, the page turns into it by itself.
        web.page.wait_for_url(f"**/memberimport/{job_id}/preview/", timeout=15_000)
    finally:
        worker.join()

    counts = web.page.locator("#import-counts")
    expect(counts.locator('[data-count="created"]')).to_have_text("200")
    expect(counts.locator('[data-count="rejected"]')).to_have_text("0")
    assert Member.objects.count() == 0  # the preview wrote nothing
    web.page.screenshot(path=str(SCREENSHOTS / "member-import-preview.png"), full_page=True)

    with web.page.expect_navigation():
        web.page.click("#confirm-import")
    expect(web.page.locator("#import-percent")).to_have_text("100")
    expect(web.page.locator('#import-counts [data-count="created"]')).to_have_text("200")
    web.page.screenshot(path=str(SCREENSHOTS / "member-import-done.png"), full_page=True)

    web.goto("/admin/members/member/")
    web.page.fill("#searchbar", "010-2537-8993")  # OFF000002, written 01025378993 in the file
    with web.page.expect_navigation():
        web.page.press("#searchbar", "Enter")
    rows = web.page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("김영진")

    web.goto("/admin/loyalty/ledgerentry/?q=import:OFF000002")
    expect(web.page.locator("#result_list")).to_contain_text("15000")
    web.page.screenshot(path=str(SCREENSHOTS / "member-import-ledger.png"), full_page=True)
    web.assert_no_errors()
