"""The console's directory forms over real HTTP: a participant, its DMS adapter (a form generated from the
adapter kind's configuration model) and its certificates. Bad input is refused with the problem beside its
field and nothing changed; every edit, done or refused, is audited; only gateway admins edit."""

from __future__ import annotations

import re

import httpx
from cryptography.hazmat.primitives import serialization
from sqlmodel import Session, col, select

from gateway.participants.directory import get_participant
from gateway.store.models import AuditEntry, Certificate
from gateway.store.types import utcnow
from gateway.xoev.signatures.keys import KeyAlgorithm, generate_key, self_signed_certificate, subject_name
from tests.api.support import ALTENBURG, GOTHA, Gateway
from tests.console.support import csrf_of, sign_in

PAGE = f"/console/participants/{ALTENBURG}"


def _row(gateway: Gateway, xoev_id: str = ALTENBURG) -> dict[str, object]:
    with Session(gateway.ctx.engine) as session:
        p = get_participant(session, xoev_id)
        assert p is not None
        return {
            "name": p.display_name,
            "versions": list(p.accepted_versions),
            "route": p.route_kind.value,
            "endpoint": p.endpoint_url,
            "policy": p.signature_policy.value,
            "ident": p.sender_identification.value,
            "receipts": dict(p.receipt_policy or {}),
            "adapter": dict(p.adapter_config or {}),
        }


def _audit(gateway: Gateway, action: str) -> list[AuditEntry]:
    with Session(gateway.ctx.engine) as session:
        return list(
            session.exec(select(AuditEntry).where(col(AuditEntry.action) == action).order_by(col(AuditEntry.id)))
        )


def _field_error(html: str, field_id: str, *, control: str | None = None) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    assert found, f"no error beside {field_id}"
    control = control or f'id="{field_id}"'
    assert re.search(rf'{re.escape(control)}[^>]*aria-invalid="true"', html), field_id
    return found.group(1)


def _participant_form(client: httpx.Client, **changes: str) -> dict[str, str]:
    html = client.get(PAGE).text
    form = {
        "csrf": csrf_of(html),
        "name": "Landratsamt Altenburger Land",
        "v-3.0.0": "1",
        "v-4.0.0": "1",
        "route": "mailbox",
        "endpoint": "",
        "policy": "accept",
        "sender_identification": "channel",
        "receipts_technical": "",
        "receipts_import_confirmations": "",
    }
    form.update(changes)
    return form


def _pem(days: int, name: str) -> str:
    key = generate_key(KeyAlgorithm.EC)
    cert = self_signed_certificate(key, subject_name(name, "Test", ALTENBURG), days=days)
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def test_a_participant_form_with_mistakes_changes_nothing_and_names_each_field(gateway: Gateway) -> None:
    before = _row(gateway)
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        form = _participant_form(admin, name="", route="xta", endpoint="")
        del form["v-3.0.0"], form["v-4.0.0"]
        form["v-none"] = ""  # every version unticked
        refused = admin.post(PAGE, data=form)
    assert refused.status_code == 400
    html = refused.text
    assert "at least 1 character" in _field_error(html, "p-name")
    assert "endpoint_url" in _field_error(html, "p-endpoint")
    assert "at least one xdomea version" in _field_error(html, "p-versions", control='name="v-3.0.0"')
    assert 'value="xta" selected' in html  # what was typed comes back to be corrected
    assert _row(gateway) == before
    assert _audit(gateway, "participant.edit")[-1].result == "refused"


def test_a_participant_form_saves_every_field_and_keeps_the_adapter(gateway: Gateway) -> None:
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        admin.post(
            f"{PAGE}/adapter",
            data={"csrf": csrf_of(admin.get(PAGE).text), "kind": "hotfolder", "a-path": "/srv/dms/abg"},
        )
        form = _participant_form(
            admin,
            route="xta",
            endpoint="https://xta.altenburg.example/services/XTAService",
            policy="require",
            sender_identification="kennung",
            receipts_technical="recipient",
        )
        del form["v-3.0.0"]
        saved = admin.post(PAGE, data=form)
        assert saved.status_code == 303 and saved.headers["location"].endswith("saved=participant")
        page = admin.get(saved.headers["location"]).text
        assert "directory entry was saved" in page
        restore = _participant_form(admin)
        assert admin.post(PAGE, data=restore).status_code == 303
        assert admin.post(f"{PAGE}/adapter", data={"csrf": restore["csrf"], "kind": ""}).status_code == 303
    entry = _audit(gateway, "participant.edit")[-2]
    assert entry.result == "ok" and "kennung" in (entry.detail or "") and "XTAService" in (entry.detail or "")
    assert _row(gateway)["adapter"] == {}


def test_the_saved_values_are_those_of_the_form(gateway: Gateway) -> None:
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        form = _participant_form(admin, sender_identification="kennung", receipts_technical="gateway")
        assert admin.post(PAGE, data=form).status_code == 303
        row = _row(gateway)
        assert row["ident"] == "kennung" and row["receipts"] == {"technical": "gateway"}
        assert row["versions"] == ["3.0.0", "4.0.0"] and row["policy"] == "accept"
        assert admin.post(PAGE, data=_participant_form(admin)).status_code == 303


def test_the_adapter_form_is_made_from_the_kinds_model_and_checked_by_it(gateway: Gateway) -> None:
    before = _row(gateway)
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        page = admin.get(PAGE, params={"kind": "hotfolder"}).text
        for field in ("f-path", "f-url", "f-poll_interval", "f-per_type", "f-transfer_dirs", "f-file_mode"):
            assert f'id="{field}"' in page, field
        assert "seconds a file&#39;s size" in page  # the field's description, from the model
        assert (
            'placeholder="Standard: 0640"'
            in admin.get(PAGE, params={"kind": "hotfolder"}, headers={"Accept-Language": "de"}).text
        )
        csrf = csrf_of(page)
        bad = admin.post(
            f"{PAGE}/adapter", data={"csrf": csrf, "kind": "hotfolder", "a-path": "/srv/x", "a-poll_interval": "-1"}
        )
        assert bad.status_code == 400
        assert "greater than or equal to 0" in _field_error(bad.text, "f-poll_interval")
        assert 'value="-1"' in bad.text
        both = admin.post(
            f"{PAGE}/adapter", data={"csrf": csrf, "kind": "hotfolder", "a-path": "/srv/x", "a-url": "https://dav/"}
        )
        assert both.status_code == 400 and "exactly one of path" in both.text
        mapping = admin.post(
            f"{PAGE}/adapter",
            data={"csrf": csrf, "kind": "hotfolder", "a-path": "/srv/x", "a-transfer_dirs": "no equals sign"},
        )
        assert "key = value" in _field_error(mapping.text, "f-transfer_dirs")
        unknown = admin.post(f"{PAGE}/adapter", data={"csrf": csrf, "kind": "nonesuch"})
        assert unknown.status_code == 400
        mayan = admin.post(f"{PAGE}/adapter", data={"csrf": csrf, "kind": "mayan", "a-url": "https://dms.example/"})
        assert mayan.status_code == 400 and 'id="f-recipient-error"' in mayan.text
        assert _row(gateway) == before
        good = admin.post(
            f"{PAGE}/adapter",
            data={
                "csrf": csrf,
                "kind": "hotfolder",
                "a-path": "/srv/dms/altenburg",
                "a-per_type": "true",
                "a-poll_interval": "7",
                "a-file_mode": "0600",
                "a-inbox": "",
            },
        )
        assert good.status_code == 303
        stored = _row(gateway)["adapter"]
        assert stored == {
            "kind": "hotfolder",
            "path": "/srv/dms/altenburg",
            "per_type": True,
            "poll_interval": 7.0,
            "file_mode": 0o600,
        }
        again = admin.get(PAGE).text  # the stored values come back as the form shows them
        assert re.search(r'id="f-file_mode"[^>]*value="0600"', again)
        assert re.search(r'<option value="true" selected>', again)
        assert admin.post(f"{PAGE}/adapter", data={"csrf": csrf, "kind": ""}).status_code == 303
    assert _row(gateway)["adapter"] == {}
    results = [e.result for e in _audit(gateway, "participant.adapter")]
    assert results[-7:] == ["refused"] * 5 + ["ok", "ok"]


def test_certificates_are_pinned_from_pem_listed_with_days_left_and_ended(gateway: Gateway) -> None:
    soon, later = _pem(10, "Soon"), _pem(400, "Later")
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        csrf = csrf_of(admin.get(PAGE).text)
        garbage = admin.post(f"{PAGE}/certificates", data={"csrf": csrf, "pem": "-----BEGIN CERTIFICATE-----\nxx"})
        assert garbage.status_code == 400 and "not a PEM certificate" in _field_error(garbage.text, "cert-pem")
        empty = admin.post(f"{PAGE}/certificates", data={"csrf": csrf, "pem": ""})
        assert empty.status_code == 400
        for pem in (soon, later):
            done = admin.post(f"{PAGE}/certificates", data={"csrf": csrf, "pem": pem})
            assert done.status_code == 303 and done.headers["location"].endswith("saved=certificate#certs-h")
        twice = admin.post(f"{PAGE}/certificates", data={"csrf": csrf, "pem": soon})
        assert "certificate_known" in twice.headers["location"]
        theirs = admin.post(f"/console/participants/{GOTHA}/certificates", data={"csrf": csrf, "pem": soon})
        assert theirs.status_code == 400 and "already pinned for psw:16077000" in theirs.text
        page = admin.get(PAGE).text
        rows = dict(re.findall(r'<tr class="cert-(\w+)" data-fingerprint="(\w+)">', page))
        assert sorted(rows) == ["expiring", "ok"]
        listing = admin.get("/console/participants").text
        assert re.search(r"signing \d{4}-\d\d-\d\d · (9|10) days", listing)
        fingerprint = rows["expiring"]
        ended = admin.post(f"{PAGE}/certificates/{fingerprint}/end", data={"csrf": csrf})
        assert ended.status_code == 303
        page = admin.get(PAGE).text
        assert f'<tr class="cert-expired" data-fingerprint="{fingerprint}">' in page
        assert admin.post(f"{PAGE}/certificates/{'0' * 64}/end", data={"csrf": csrf}).status_code == 404
    with Session(gateway.ctx.engine) as session:
        pinned = session.exec(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint)).one()
        assert pinned.not_after <= utcnow()  # the pin ended, the row stays
    assert [e.result for e in _audit(gateway, "certificate.add")][-6:] == [
        "refused",
        "refused",
        "ok",
        "ok",
        "ok",
        "refused",
    ]
    assert _audit(gateway, "certificate.end")[-1].result == "ok"


def test_only_gateway_admins_edit_and_a_refusal_is_audited(gateway: Gateway) -> None:
    before = _row(gateway)
    with sign_in(gateway, "abg") as abg:
        page = abg.get(PAGE).text
        assert 'id="save-adapter"' not in page and 'id="certificate-form"' not in page
        csrf = csrf_of(page)
        assert abg.post(f"{PAGE}/adapter", data={"csrf": csrf, "kind": "hotfolder", "a-path": "/x"}).status_code == 403
        assert abg.post(f"{PAGE}/certificates", data={"csrf": csrf, "pem": _pem(5, "x")}).status_code == 403
        assert abg.post(f"/console/participants/{GOTHA}/adapter", data={"csrf": csrf, "kind": ""}).status_code == 404
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        forged = admin.post(f"{PAGE}/adapter", data={"csrf": "x" * 43, "kind": ""})
        assert forged.status_code == 403
    assert _row(gateway) == before
    assert _audit(gateway, "participant.adapter")[-1].detail == "role"
    assert _audit(gateway, "certificate.add")[-1].detail == "role"


def test_a_new_participant_is_created_from_the_form_and_an_identifier_in_use_is_refused(gateway: Gateway) -> None:
    with sign_in(gateway, "root", headers={"Accept-Language": "en"}) as admin:
        page = admin.get("/console/participants/new")
        assert page.status_code == 200 and 'id="p-id"' in page.text
        csrf = csrf_of(page.text)
        form = {"csrf": csrf, "name": "Landratsamt Greiz", "v-3.0.0": "1", "route": "mailbox", "policy": "accept"}
        bad = admin.post("/console/participants/new", data={**form, "id": "no colon"})
        assert bad.status_code == 400 and "should match pattern" in _field_error(bad.text, "p-id")
        taken = admin.post("/console/participants/new", data={**form, "id": ALTENBURG})
        assert taken.status_code == 400 and "already" in _field_error(taken.text, "p-id")
        assert _row(gateway)["name"] != "Landratsamt Greiz"
        made = admin.post("/console/participants/new", data={**form, "id": "psw:16076000"})
        assert (
            made.status_code == 303
            and made.headers["location"] == "/console/participants/psw:16076000?saved=participant"
        )
    row = _row(gateway, "psw:16076000")
    assert row["name"] == "Landratsamt Greiz" and row["versions"] == ["3.0.0"] and row["policy"] == "accept"
    assert [e.result for e in _audit(gateway, "participant.create")][-3:] == ["refused", "refused", "ok"]
    with sign_in(gateway, "abg") as abg:
        assert abg.get("/console/participants/new").status_code == 403
        csrf = csrf_of(abg.get(PAGE).text)
        refused = abg.post("/console/participants/new", data={"csrf": csrf, "id": "psw:1", "name": "x"})
        assert refused.status_code == 403
