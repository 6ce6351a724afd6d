"""The directory over HTTP (admin): idempotent PUT, reads, and what it refuses."""

from __future__ import annotations

from gateway.participants.tokens import Scope
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    certificate_pem,
    generate_key,
    self_signed_certificate,
    subject_name,
)
from tests.api.support import OPERATOR, Gateway, assert_problem

GREIZ = "psw:16076000"


def test_put_is_an_idempotent_upsert(gateway: Gateway) -> None:
    certificate = self_signed_certificate(generate_key(KeyAlgorithm.EC), subject_name("Landratsamt Greiz"), days=10)
    entry = {
        "id": GREIZ,
        "name": "Landratsamt Greiz",
        "route": {"kind": "xta", "endpoint_url": "https://xta.greiz.demo.invalid/services/XTAService"},
        "certificates": [{"pem": certificate_pem([certificate])}],
    }
    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as admin:
        created = admin.put(f"/api/v1/participants/{GREIZ}", json=entry)
        assert created.status_code == 201, created.text
        again = admin.put(f"/api/v1/participants/{GREIZ}", json=entry)
        assert again.status_code == 200
        assert again.json()["updated_at"] == created.json()["updated_at"]
        shown = admin.get(f"/api/v1/participants/{GREIZ}").json()
        assert shown["route"]["kind"] == "xta"
        assert len(shown["certificates"]) == 1
        assert shown["signature_policy"] == "require"
        assert GREIZ in {p["id"] for p in admin.get("/api/v1/participants").json()}
        renamed = admin.put(f"/api/v1/participants/{GREIZ}", json={**entry, "name": "Landratsamt Greiz (Kreisarchiv)"})
        assert renamed.json()["name"] == "Landratsamt Greiz (Kreisarchiv)"
        assert len(renamed.json()["certificates"]) == 1


def test_what_put_refuses(gateway: Gateway) -> None:
    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as admin:
        assert_problem(
            admin.put(f"/api/v1/participants/{GREIZ}", json={"id": "psw:16071000", "name": "Weimarer Land"}),
            400,
            "bad-request",
        )
        server_file = admin.put(
            f"/api/v1/participants/{GREIZ}",
            json={"id": GREIZ, "name": "Greiz", "certificates": [{"pem_file": "/etc/passwd"}]},
        )
        assert_problem(server_file, 422, "invalid-request")
        no_cert = admin.put(
            f"/api/v1/participants/{GREIZ}",
            json={"id": GREIZ, "name": "Greiz", "certificates": [{"pem": "-----BEGIN CERTIFICATE-----\nAA==\n"}]},
        )
        assert "not a PEM certificate" in assert_problem(no_cert, 422, "invalid-request")["detail"]
        invalid = assert_problem(
            admin.put(f"/api/v1/participants/{GREIZ}", json={"id": GREIZ, "name": "", "route": {"kind": "xta"}}),
            422,
            "invalid-request",
        )
        assert {tuple(e["location"][-1:]) for e in invalid["errors"]} >= {("name",)}
        assert_problem(admin.get("/api/v1/participants/psw:00000001"), 404, "not-found")


def test_rows_written_by_other_tools_are_shown_as_stored(gateway: Gateway) -> None:
    from sqlmodel import Session

    from gateway.store.models import Participant, RouteKind

    with Session(gateway.ctx.engine) as session:
        session.add(Participant(xoev_id="psw:16071000", display_name="Weimarer Land", route_kind=RouteKind.XTA))
        session.commit()
    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as admin:
        shown = admin.get("/api/v1/participants/psw:16071000")
    assert shown.status_code == 200, shown.text
    assert shown.json()["route"] == {"kind": "xta", "endpoint_url": None}
