"""Browser tests: a real Chromium (Debian's /usr/bin/chromium) driven by Playwright's sync API.

Playwright's own browser download is never used: the browser is the system one, launched
headless with the background services that phone home switched off. The pages are served by
pytest-django's ``live_server`` (static files included, through ``StaticFilesHandler``), so
every test that opens a page is ``django_db(transaction=True)``: the server thread only sees
committed rows.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path(os.environ.get("DANGOL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
STAFF_PASSWORD = "browser-test-password-4821"


@pytest.fixture(scope="package")
def browser(django_db_setup: None) -> Iterator[Browser]:
    """One Chromium for the browser tests, closed when they are done.

    Package-scoped on purpose: while Playwright's sync API is up, its asyncio loop counts as
    running in this thread, which would break every later test that calls ``asyncio.run`` and
    makes Django refuse ORM calls here (``SynchronousOnlyOperation``). The browser tests only
    touch the database between page actions, never concurrently with the loop's work, so the
    check is lifted for exactly as long as the browser lives. The test database is created
    first (``django_db_setup``), before the loop exists.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                yield browser
            finally:
                browser.close()


@dataclass
class BrowserPage:
    """A fresh page (own context, own cookies) plus what its console and scripts reported."""

    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, f"GET {path}: {response.status if response else 'no response'}"

    def login(self, username: str, password: str = STAFF_PASSWORD) -> None:
        """Log in through the admin's own login form, as a person would."""
        self.goto("/admin/login/?next=/admin/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        with self.page.expect_navigation():
            self.page.click("input[type=submit], button[type=submit]")
        assert self.page.url.rstrip("/").endswith("/admin"), f"login failed, at {self.page.url}"
        assert self.page.locator("#user-tools").count() == 1, "no user tools: not logged in"

    def assert_no_errors(self) -> None:
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.page_errors == [], f"uncaught script errors: {self.page_errors}"


@pytest.fixture
def web(browser: Browser, live_server) -> Iterator[BrowserPage]:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    web = BrowserPage(page=page, base_url=live_server.url)

    def on_console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        # Chromium asks for /favicon.ico on its own; no page here links one, so it is a 404
        # that says nothing about the page.
        if message.type == "error" and not url.endswith("/favicon.ico"):
            web.console_errors.append(f"{message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: web.page_errors.append(str(error)))
    try:
        yield web
    finally:
        with contextlib.suppress(PlaywrightError):
            context.close()


@pytest.fixture
def staff_user(transactional_db):  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_superuser(
        username="browser-admin", email="browser-admin@example.com", password=STAFF_PASSWORD
    )


@pytest.fixture
def tasks_run_eagerly() -> Iterator[None]:
    """No worker beside the live server: a task runs where it is sent. Celery reads its settings
    once, so the app's own configuration is switched (and restored), whatever ran before."""
    from config.celery import app as celery_app

    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved
