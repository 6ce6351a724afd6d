"""The message page and the directory forms in a real headless Chromium (Debian's /usr/bin/chromium, Playwright).

An administrator opens a message of a multi-step Aussonderung and sees its timeline, opens the record tree
with the keyboard, reads the validation report of an invalid message; edits a participant and its DMS
adapter through the forms (a mistake is shown beside its field), and pins a certificate from a PEM file and
sees its days to expiry. Screenshots go to test-artifacts/console/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.xoev.signatures.keys import KeyAlgorithm, generate_key, self_signed_certificate, subject_name
from tests.api.support import GOTHA, Gateway, offer
from tests.console.processes import aussonderung_until_appraisal, refuse_as_invalid
from tests.console.support import PASSWORD, submit

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs /usr/bin/chromium for the console's browser tests (scripts/system-deps)")
    pytest.skip("no /usr/bin/chromium: run scripts/system-deps as root", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
expect = sync_api.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(gateway: Gateway, browser: object) -> Iterator[object]:
    """A German administrator's page, signed in; fails the test if the page logs a CSP refusal or an error."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    opened = context.new_page()
    complaints: list[str] = []
    opened.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    opened.goto(f"{gateway.url}/console/login")
    opened.get_by_label("Benutzername").fill("root")
    opened.get_by_label("Passwort").fill(PASSWORD)
    opened.get_by_role("button", name="Anmelden").click()
    opened.wait_for_url(f"{gateway.url}/console/")
    try:
        yield opened
    finally:
        context.close()
    assert not [c for c in complaints if "Content Security Policy" in c or "Refused" in c], complaints


def test_an_aussonderung_shows_its_timeline_and_its_record_tree_opens_by_keyboard(
    gateway: Gateway, page: object
) -> None:
    ids = aussonderung_until_appraisal(gateway, 950)
    p = page
    p.goto(f"{gateway.url}/console/messages/{ids['0501']}")  # type: ignore[attr-defined]
    steps = p.locator("#process > li")  # type: ignore[attr-defined]
    expect(steps).to_have_count(7)
    expect(steps.nth(0)).to_contain_text("0501 Anbietung")
    expect(steps.nth(0)).to_contain_text("Landratsamt Gotha")
    expect(steps.nth(2)).to_contain_text("0502 Bewertung")
    expect(steps.nth(2)).to_contain_text("Landesarchiv Thüringen")
    awaited = p.locator('#process li[data-code="0503"]')  # type: ignore[attr-defined]
    expect(awaited).to_contain_text("erwartet")
    expect(awaited).to_contain_text("Frist")
    expect(p.locator('#process li[data-code="0506"]')).to_contain_text("steht aus")  # type: ignore[attr-defined]
    expect(p.locator('#process li[aria-current="step"]')).to_contain_text("0501")  # type: ignore[attr-defined]
    assert "{" not in p.locator("main").inner_text()  # type: ignore[attr-defined]  # nothing raw
    height = p.evaluate("document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    assert height < 2400, height  # was 3,400 px ending in raw JSON
    p.screenshot(path=str(ARTIFACTS / "message-process-de.png"), full_page=True)  # type: ignore[attr-defined]

    tree = p.locator("#records")  # type: ignore[attr-defined]
    nested = tree.locator("details details").first
    expect(nested).not_to_have_attribute("open", "")
    tree.locator("summary").first.focus()
    p.keyboard.press("Tab")  # type: ignore[attr-defined]  # from the Akte to its first Vorgang
    focused = p.evaluate("document.activeElement.tagName + ' ' + document.activeElement.textContent")  # type: ignore[attr-defined]
    assert focused.startswith("SUMMARY"), focused
    p.keyboard.press("Enter")  # type: ignore[attr-defined]
    expect(nested).to_have_attribute("open", "")
    expect(nested.locator("li").first).to_be_visible()
    expect(nested).to_contain_text("Dokument")
    p.screenshot(path=str(ARTIFACTS / "message-tree-de.png"), full_page=True)  # type: ignore[attr-defined]


def test_an_invalid_message_shows_its_report_as_a_table(gateway: Gateway, page: object) -> None:
    target = submit(gateway, 951)
    _, data = offer(951)
    refuse_as_invalid(gateway, target, data.replace(b"</xdomea:Kopf>", b"<xdomea:Falsch/></xdomea:Kopf>", 1))
    p = page
    p.goto(f"{gateway.url}/console/messages/{target}")  # type: ignore[attr-defined]
    expect(p.locator("#verdict")).to_contain_text("ungültig")  # type: ignore[attr-defined]
    table = p.locator("#findings")  # type: ignore[attr-defined]
    expect(table.locator("thead th")).to_have_text(["Schwere", "Regel", "Stelle", "Meldung"])
    first = table.locator("tbody tr").first
    expect(first.locator("td").nth(0)).to_have_text("Fehler")
    expect(first.locator("td").nth(3)).to_contain_text("Falsch")
    assert first.locator("td").nth(1).inner_text().strip()
    assert first.locator("td").nth(2).inner_text().strip() not in ("", "–")
    p.screenshot(path=str(ARTIFACTS / "message-invalid-de.png"), full_page=True)  # type: ignore[attr-defined]


def test_a_participant_and_its_adapter_are_edited_through_forms(gateway: Gateway, page: object) -> None:
    p = page
    p.goto(f"{gateway.url}/console/participants/{GOTHA}")  # type: ignore[attr-defined]
    p.get_by_label("Name").fill("Landratsamt Gotha (Test)")  # type: ignore[attr-defined]
    p.get_by_label("Zustellung").select_option("xta")  # type: ignore[attr-defined]
    p.locator("#save-participant").click()  # type: ignore[attr-defined]
    error = p.locator("#p-endpoint-error")  # type: ignore[attr-defined]
    expect(error).to_contain_text("endpoint_url")
    expect(p.get_by_label("Endpunkt")).to_have_attribute("aria-invalid", "true")  # type: ignore[attr-defined]
    p.screenshot(path=str(ARTIFACTS / "participant-error-de.png"), full_page=True)  # type: ignore[attr-defined]
    p.get_by_label("Endpunkt").fill("https://xta.gotha.example/services/XTAService")  # type: ignore[attr-defined]
    p.locator("#save-participant").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("status")).to_contain_text("gespeichert")  # type: ignore[attr-defined]
    expect(p.get_by_label("Name")).to_have_value("Landratsamt Gotha (Test)")  # type: ignore[attr-defined]

    p.get_by_label("Adapter-Art").select_option("hotfolder")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Felder anzeigen").click()  # type: ignore[attr-defined]
    p.get_by_label("path").fill("/srv/dms/gotha")  # type: ignore[attr-defined]
    p.get_by_text("Einstellungen mit Standardwert").click()  # type: ignore[attr-defined]  # folded away at first
    p.get_by_label("poll_interval").fill("-5")  # type: ignore[attr-defined]
    p.locator("#save-adapter").click()  # type: ignore[attr-defined]
    expect(p.locator("#f-poll_interval-error")).to_contain_text("greater than or equal to 0")  # type: ignore[attr-defined]
    expect(p.get_by_label("path")).to_have_value("/srv/dms/gotha")  # type: ignore[attr-defined]
    p.screenshot(path=str(ARTIFACTS / "adapter-error-de.png"), full_page=True)  # type: ignore[attr-defined]
    p.get_by_label("poll_interval").fill("5")  # type: ignore[attr-defined]
    p.locator("#save-adapter").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("status")).to_contain_text("DMS-Adapter wurde gespeichert")  # type: ignore[attr-defined]
    expect(p.get_by_label("path")).to_have_value("/srv/dms/gotha")  # type: ignore[attr-defined]
    p.goto(f"{gateway.url}/console/participants")  # type: ignore[attr-defined]
    expect(p.locator("#participants")).to_contain_text("hotfolder")  # type: ignore[attr-defined]


def test_a_certificate_is_pinned_from_its_pem_file_and_shows_its_expiry(
    gateway: Gateway, page: object, tmp_path: Path
) -> None:
    key = generate_key(KeyAlgorithm.EC)
    certificate = self_signed_certificate(key, subject_name("Gotha Signatur", "Test", GOTHA), days=12)
    pem_file = tmp_path / "gotha.pem"
    pem_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    p = page
    p.goto(f"{gateway.url}/console/participants/{GOTHA}")  # type: ignore[attr-defined]
    p.get_by_label("oder der PEM-Text").fill("kein Zertifikat")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Hinterlegen").click()  # type: ignore[attr-defined]
    expect(p.locator("#cert-pem-error")).to_contain_text("not a PEM certificate")  # type: ignore[attr-defined]
    p.get_by_label("PEM-Datei").set_input_files(str(pem_file))  # type: ignore[attr-defined]
    expect(p.get_by_label("oder der PEM-Text")).to_have_value(  # type: ignore[attr-defined]
        pem_file.read_text(), timeout=5000
    )
    p.get_by_role("button", name="Hinterlegen").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("status")).to_contain_text("hinterlegt")  # type: ignore[attr-defined]
    row = p.locator("#certificates tbody tr.cert-expiring")  # type: ignore[attr-defined]
    expect(row).to_contain_text("Gotha Signatur")
    expect(row.locator("td.days")).to_contain_text("läuft bald ab")
    assert row.locator("td.days").inner_text().split()[0] in ("11", "12")
    p.screenshot(path=str(ARTIFACTS / "certificates-de.png"), full_page=True)  # type: ignore[attr-defined]
    row.get_by_role("button").click()
    expect(p.locator("#certificates tbody tr.cert-expired")).to_contain_text("abgelaufen")  # type: ignore[attr-defined]
