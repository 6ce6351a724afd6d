"""The Swagger UI at /docs in a real headless Chromium: it renders the API from the gateway's own files.

A page that loads but shows nothing (a script refused by the Content-Security-Policy, an OpenAPI version
the bundled Swagger UI cannot read, an asset from a CDN the browser cannot reach) would pass every HTTP
test; only a browser sees it. Chromium is Debian's /usr/bin/chromium, driven by Playwright, as in
tests/console/browser.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from gateway.participants.tokens import Scope
from tests.api.support import GOTHA, Gateway

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs /usr/bin/chromium for the browser tests (scripts/system-deps)")
    pytest.skip("no /usr/bin/chromium: run scripts/system-deps as root", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


def test_swagger_ui_renders_every_operation_and_calls_the_api_with_a_token(gateway: Gateway) -> None:
    token = gateway.token(GOTHA, Scope.READ)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            complaints: list[str] = []
            hosts: set[str] = set()
            page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: hosts.add(urlparse(r.url).netloc))
            page.goto(f"{gateway.url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            assert page.locator(".opblock").count() >= 14
            assert page.get_by_text("/api/v1/messages/{message_id}/payload").count() >= 1
            assert hosts == {urlparse(gateway.url).netloc}, hosts  # nothing from anywhere else

            # Authorize with a token, then "Try it out" on the list of messages: 200 from the gateway
            page.get_by_role("button", name="Authorize").first.click()
            page.locator(".modal-ux input").first.fill(token)
            page.locator(".modal-ux .auth-btn-wrapper .authorize").click()
            page.locator(".modal-ux .auth-btn-wrapper .btn-done").click()
            listing = page.locator("#operations-messages-list_messages_api_v1_messages_get")
            listing.locator(".opblock-summary").click()
            listing.get_by_role("button", name="Try it out").click()
            listing.get_by_role("button", name="Execute").click()
            listing.locator(".live-responses-table tbody .response-col_status").first.wait_for(timeout=30_000)
            assert (
                listing.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip() == "200"
            )
            assert not [c for c in complaints if "Content Security Policy" in c], complaints
        finally:
            browser.close()
