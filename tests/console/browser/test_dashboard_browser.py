"""The dashboard in a real headless Chromium: headline figures, health colours, drawn charts, live updates.

A failed message shows as failed and dead-letter red; the traffic chart is a uPlot canvas with pixels on
it, fed from /console/dashboard/series; a message submitted while the page is open changes the figures
and the chart's data without a reload (htmx polling of the panel, the chart's own polling). In German the
labels and the numbers are German. Screenshots go to test-artifacts/console/.
"""

from __future__ import annotations

import re

import pytest

from tests.api.support import Gateway
from tests.console.browser.test_browser import ARGS, ARTIFACTS, CHROMIUM, sync_api
from tests.console.support import PASSWORD, fail, submit

UPDATED = re.compile(r"^[1-9][0-9]*$")
DRAWN_PIXELS = """(selector) => {
  const canvas = document.querySelector(selector);
  if (!canvas) { return -1; }
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) { drawn += 1; } }
  return drawn;
}"""


@pytest.fixture(scope="module")
def browser() -> object:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


def _sign_in(page: object, url: str, name: str, labels: tuple[str, str, str]) -> None:
    page.goto(f"{url}/console/login")  # type: ignore[attr-defined]
    page.get_by_label(labels[0]).fill(name)  # type: ignore[attr-defined]
    page.get_by_label(labels[1]).fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name=labels[2]).click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{url}/console/")  # type: ignore[attr-defined]


def _figure(page: object, name: str) -> str:
    return str(page.locator(f'#headline [data-figure="{name}"] dd').inner_text())  # type: ignore[attr-defined]


def test_the_dashboard_shows_figures_charts_and_updates_live(gateway: Gateway, browser: object) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    fail(gateway, submit(gateway, 900))
    context = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )
    try:
        _sign_in(page, gateway.url, "root", ("User name", "Password", "Sign in"))
        expect = sync_api.expect
        expect(page.get_by_role("heading", name="At a glance")).to_be_visible()
        assert int(_figure(page, "failed")) >= 1
        expect(page.locator('#headline [data-figure="failed"]')).to_have_class("dash-card lvl-bad")
        expect(page.locator('tr[data-queue="dead_letter"]')).to_have_class("lvl-bad")
        expect(page.locator('tr[data-queue="dead_letter"] .badge')).to_have_text("failing")
        expect(page.locator("#failures")).to_contain_text("XtaRefused")
        charts = page.locator("#charts")
        expect(charts).to_have_attribute("data-updates", UPDATED, timeout=15_000)
        assert page.locator("#chart-traffic canvas").count() == 1
        assert page.locator("#chart-ages canvas").count() == 1
        assert page.evaluate(DRAWN_PIXELS, "#chart-traffic canvas") > 100  # axes, grid and the series
        received = int(charts.get_attribute("data-received") or "0")
        assert received >= 1
        in_flight = int(_figure(page, "in_flight"))
        page.screenshot(path=str(ARTIFACTS / "dashboard-charts.png"), full_page=True)

        submit(gateway, 901)  # a new message while the page is open: no reload
        expect(page.locator('#headline [data-figure="in_flight"] dd')).to_have_text(str(in_flight + 1), timeout=20_000)
        expect(charts).to_have_attribute("data-received", str(received + 1), timeout=20_000)

        page.get_by_role("button", name="Last week").click()
        expect(charts).to_have_attribute("data-span", "week", timeout=10_000)
        expect(page.get_by_role("button", name="Last week")).to_have_attribute("aria-pressed", "true")
        assert not errors, errors  # no CSP refusals, no script errors
    finally:
        context.close()


def test_the_dashboard_in_german(gateway: Gateway, browser: object) -> None:
    context = browser.new_context(locale="de-DE")  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        _sign_in(page, gateway.url, "root", ("Benutzername", "Passwort", "Anmelden"))
        expect = sync_api.expect
        expect(page.get_by_role("heading", name="Auf einen Blick")).to_be_visible()
        expect(page.locator("#queues thead")).to_contain_text("Zustand")
        expect(page.get_by_role("button", name="Letzte Woche")).to_be_visible()
        expect(page.locator("#charts")).to_have_attribute("data-updates", UPDATED, timeout=15_000)
        assert page.evaluate(DRAWN_PIXELS, "#chart-traffic canvas") > 100
        page.screenshot(path=str(ARTIFACTS / "dashboard-de.png"), full_page=True)
    finally:
        context.close()


def test_a_participant_admin_sees_its_own_figures_and_no_age_chart(gateway: Gateway, browser: object) -> None:
    submit(gateway, 902, altenburg=True)
    context = browser.new_context(locale="en-GB")  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        _sign_in(page, gateway.url, "abg", ("User name", "Password", "Sign in"))
        sync_api.expect(page.locator("#charts")).to_have_attribute("data-updates", UPDATED, timeout=15_000)
        assert page.locator("#chart-ages").count() == 0
        assert page.locator("#peers").count() == 0
        assert int(_figure(page, "in_flight")) >= 1
    finally:
        context.close()
