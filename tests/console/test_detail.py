"""The message page over real HTTP: the process as a timeline of steps with deadlines, the record tree, the
validation report as a table, nothing raw; the other party of a message still sees none of its internals."""

from __future__ import annotations

import re
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from gateway.participants.tokens import Scope
from gateway.store.models import Message
from gateway.store.types import utcnow
from tests.api.support import GOTHA, Gateway, offer, package, zip_bytes
from tests.console.processes import aussonderung_until_appraisal, refuse_as_invalid
from tests.console.support import sign_in, submit


def _steps(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-code="(\d{4})" data-status="([a-z]+)"', html)


def test_an_aussonderung_is_a_timeline_with_the_awaited_answer_and_its_deadline(gateway: Gateway) -> None:
    ids = aussonderung_until_appraisal(gateway, 900)
    with sign_in(gateway, "root", headers={"Accept-Language": "de-DE"}) as admin:
        page = admin.get(f"/console/messages/{ids['0502']}")
    assert page.status_code == 200
    html = page.text
    assert _steps(html) == [
        ("0501", "done"),
        ("0504", "done"),
        ("0502", "done"),
        ("0505", "awaited"),  # Gotha's own system answers (a mailbox's default), it has not yet
        ("0503", "awaited"),
        ("0507", "optional"),
        ("0506", "expected"),
    ]
    assert "Aussonderung" in html and "Bewertung" in html and "Anbietung" in html
    assert 'aria-current="step"' in html
    awaited = html[html.index('data-code="0503"') :].split("</li>")[0]
    assert "Frist" in awaited and "Landratsamt Gotha" in awaited  # who is to answer, and until when
    assert "Landesarchiv Thüringen" in html
    assert "{" not in re.sub(r"<[^>]+>", "", html.split('id="process"')[1].split("</ol>")[0])  # no raw JSON
    assert "<pre" not in html
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        offered = admin.get(f"/console/messages/{ids['0501']}").text
    tree = offered.split('id="records">')[1].split("</section>")[0]
    assert "<details" in tree and "<summary>" in tree and "Akte" in tree and "Dokument" in tree


def test_an_overdue_answer_is_highlighted(gateway: Gateway) -> None:
    ids = aussonderung_until_appraisal(gateway, 901)
    with Session(gateway.ctx.engine) as session:  # the appraisal arrived 40 days ago: past 720 h for the 0503
        appraisal = session.get(Message, uuid.UUID(ids["0502"]))
        assert appraisal is not None
        appraisal.created_at = utcnow() - timedelta(days=40)
        session.add(appraisal)
        session.commit()
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        html = admin.get(f"/console/messages/{ids['0501']}").text
    assert ("0503", "overdue") in _steps(html)
    assert "deadline-overdue" in html and 'class="badge bad">overdue' in html


def test_a_message_refused_as_invalid_shows_its_report_as_rule_place_message(gateway: Gateway) -> None:
    target = submit(gateway, 902)
    _, data = offer(902)
    broken = data.replace(b"</xdomea:Kopf>", b"<xdomea:Unbekannt>x</xdomea:Unbekannt></xdomea:Kopf>", 1)
    refuse_as_invalid(gateway, target, broken)
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        html = admin.get(f"/console/messages/{target}").text
    table = html.split('id="findings"')[1].split("</table>")[0]
    rows = re.findall(r"<tr class=\"f-(\w+)\">(.*?)</tr>", table, re.S)
    assert rows and rows[0][0] == "error"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1], re.S)
    assert re.search(r"XSD|XGW|SCHEMA", cells[1]), cells  # the rule
    assert "Kopf" in cells[2] or "line" in cells[2], cells  # the place
    assert "Unbekannt" in cells[3], cells  # the message
    assert "checked again" in html and "invalid" in html
    assert "XGW-NAME-001" not in html and "payloads" not in html  # checked under its own name, no store path
    # it never reached the archive: nothing is awaited from it, no deadline runs
    assert _steps(html)[:3] == [("0501", "failed"), ("0504", "expected"), ("0502", "expected")]
    assert "did not reach its recipient" in html


def test_the_other_party_sees_the_timeline_but_no_internals(gateway: Gateway) -> None:
    """The archive's admin opens Gotha's offer: the process, but not Gotha's history or attempts."""
    from gateway.console.users import add_user
    from gateway.store.models import ConsoleRole
    from tests.api.support import ARCHIVE
    from tests.console.support import PASSWORD

    ids = aussonderung_until_appraisal(gateway, 903)
    add_user(gateway.ctx.engine, "archive-admin", PASSWORD, ConsoleRole.PARTICIPANT_ADMIN, ARCHIVE)
    with sign_in(gateway, "archive-admin", headers={"Accept-Language": "en"}) as archive:
        html = archive.get(f"/console/messages/{ids['0501']}").text
    assert 'id="process"' in html and ("0502", "done") in _steps(html)
    assert 'id="history"' not in html and "more-attempts" not in html
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        own = admin.get(f"/console/messages/{ids['0501']}").text
    assert 'id="history"' in own and "more-attempts" in own


def test_the_pages_show_no_untranslated_key_in_either_language(gateway: Gateway) -> None:
    ids = aussonderung_until_appraisal(gateway, 904)
    paths = [
        f"/console/messages/{ids['0501']}",
        f"/console/messages/{ids['0502']}",
        "/console/participants",
        "/console/participants/psw:16077000",
        "/console/participants/psw:16077000?kind=hotfolder",
        "/console/participants/psw:16077000?kind=mayan",
        "/console/participants/psw:16077000?kind=cmis",
        "/console/participants/new",
    ]
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        for lang in ("de", "en"):
            for path in paths:
                page = admin.get(path, headers={"Accept-Language": lang})
                assert page.status_code == 200, path
                text = re.sub(r"<[^>]+>", " ", page.text)
                assert not re.findall(r"\b(?:d|dir)_[a-z_]+\b", text), (lang, path)


def test_a_package_refused_as_invalid_is_checked_again_under_its_own_name(gateway: Gateway, tmp_path: Path) -> None:
    built = package(tmp_path, 905, registry=gateway.ctx.registry)
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        response = client.post("/api/v1/messages", content=built.read_bytes(), headers={"X-Filename": built.name})
    assert response.status_code == 201, response.text
    target = str(response.json()["id"])
    with zipfile.ZipFile(built) as original:
        entries = {info.filename: original.read(info) for info in original.infolist()}
    xml_name = next(n for n in entries if n.endswith(".xml") and "/" not in n)
    entries[xml_name] = entries[xml_name].replace(b"</xdomea:Kopf>", b"<xdomea:Falsch/></xdomea:Kopf>", 1)
    refuse_as_invalid(gateway, target, zip_bytes(entries))
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        html = admin.get(f"/console/messages/{target}").text
    table = html.split('id="findings"')[1].split("</table>")[0]
    assert "Falsch" in table and "XGW-NAME" not in table
    assert "xgw-console-" not in html and "payloads" not in html
