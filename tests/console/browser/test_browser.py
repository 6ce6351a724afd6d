"""The console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download).

Sign in, find the failed message, read why it failed, retry it and watch it move on to sent with the
in-process worker running; a participant admin typing another authority's message URL gets 404.
Screenshots of each main page go to the artifacts folder (tests/console/browser/common.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from gateway.pipeline.worker import run_in_thread
from tests.api.support import Gateway
from tests.console.browser.common import ARGS, CHROMIUM, artifacts_dir
from tests.console.support import FAILURE, PASSWORD, fail, submit

ARTIFACTS = artifacts_dir()

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs /usr/bin/chromium for the console's browser tests (scripts/system-deps)")
    pytest.skip("no /usr/bin/chromium: run scripts/system-deps as root", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


def _sign_in(page: object, url: str, name: str) -> None:
    page.goto(f"{url}/console/login")  # type: ignore[attr-defined]
    page.get_by_label("User name").fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{url}/console/")  # type: ignore[attr-defined]


def test_find_a_failed_message_retry_it_and_see_it_sent(gateway: Gateway, browser: object) -> None:
    failed = submit(gateway, 800)
    fail(gateway, failed)
    stop = threading.Event()
    worker = threading.Thread(target=run_in_thread, args=(gateway.ctx, stop), daemon=True)
    worker.start()
    context = browser.new_context(locale="en-GB")  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        _sign_in(page, gateway.url, "root")
        sync_api.expect(page.locator('tr[data-queue="dead_letter"] td').first).not_to_have_text("0")
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        page.get_by_role("link", name="Dead letter").click()
        sync_api.expect(page.locator("#results")).to_contain_text("XtaRefused")
        page.screenshot(path=str(ARTIFACTS / "messages.png"), full_page=True)
        page.locator(f'a[href="/console/messages/{failed}"]').click()
        sync_api.expect(page.locator("#error")).to_have_text(FAILURE)
        page.screenshot(path=str(ARTIFACTS / "message.png"), full_page=True)
        page.get_by_role("link", name="Retry").click()
        page.get_by_label("Note (recorded in the history)").fill("the peer is back")
        page.screenshot(path=str(ARTIFACTS / "confirm.png"), full_page=True)
        page.get_by_role("button", name="Confirm").click()
        sync_api.expect(page.get_by_role("status")).to_contain_text("Done")
        for _ in range(60):
            if "→ sent" in page.locator("#history").inner_text():
                break
            page.wait_for_timeout(500)
            page.reload()
        sync_api.expect(page.locator("#history")).to_contain_text("→ sent")
        sync_api.expect(page.locator("#history")).to_contain_text("console:root")
        page.goto(f"{gateway.url}/console/participants")
        page.screenshot(path=str(ARTIFACTS / "participants.png"), full_page=True)
        page.goto(f"{gateway.url}/console/audit")
        sync_api.expect(page.locator("#audit")).to_contain_text("retry")
        page.screenshot(path=str(ARTIFACTS / "audit.png"), full_page=True)
    finally:
        context.close()
        stop.set()
        worker.join(timeout=30)


def test_a_participant_admin_cannot_open_another_authoritys_message(gateway: Gateway, browser: object) -> None:
    other = submit(gateway, 801)
    own = submit(gateway, 802, altenburg=True)
    context = browser.new_context(locale="de-DE")  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        page.goto(f"{gateway.url}/console/login")
        page.get_by_label("Benutzername").fill("abg")
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url(f"{gateway.url}/console/")
        page.goto(f"{gateway.url}/console/messages")
        sync_api.expect(page.locator("#results")).to_contain_text("psw:16077000")
        assert other not in page.content()
        assert own in page.content()
        response = page.goto(f"{gateway.url}/console/messages/{other}")
        assert response is not None and response.status == 404
        sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Nicht gefunden")
        page.screenshot(path=str(ARTIFACTS / "not-found-de.png"), full_page=True)
    finally:
        context.close()


def test_the_pages_work_under_their_content_security_policy(gateway: Gateway, browser: object) -> None:
    """htmx and the stylesheet load from /console/static, nothing inline is blocked, the dashboard panel
    fills by htmx; signing out in the browser ends the session, also for a copy of its cookie."""
    failed = submit(gateway, 803)
    fail(gateway, failed)
    context = browser.new_context(locale="en-GB")  # type: ignore[attr-defined]
    page = context.new_page()
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    try:
        _sign_in(page, gateway.url, "root")
        sync_api.expect(page.locator('tr[data-queue="dead_letter"] td').first).not_to_have_text("0")
        assert page.evaluate("typeof htmx") == "object"
        for path in ("/console/messages?state=failed", f"/console/messages/{failed}", "/console/participants"):
            page.goto(f"{gateway.url}{path}")
        copied = context.cookies()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{gateway.url}/console/login")
        thief = browser.new_context(locale="en-GB")  # type: ignore[attr-defined]
        try:
            thief.add_cookies(copied)
            stolen = thief.new_page()
            stolen.goto(f"{gateway.url}/console/")
            stolen.wait_for_url(f"{gateway.url}/console/login")
        finally:
            thief.close()
    finally:
        context.close()
    assert not [text for text in complaints if "Content Security Policy" in text or "Refused" in text], complaints
