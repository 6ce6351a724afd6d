"""The console over real HTTP: sign-in, cookie and CSRF, roles narrowed in the queries, every page, actions
audited, metrics and the CLI's view of the same queues."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlmodel import Session, col, select

from gateway.cli.main import cli
from gateway.store.models import AuditEntry, Message, MessageState
from tests.api.support import Gateway
from tests.console.support import FAILURE, PASSWORD, csrf_of, fail, sign_in, submit


@pytest.fixture(scope="module")
def seeded(gateway: Gateway) -> dict[str, Any]:
    gotha = [submit(gateway, seed) for seed in range(700, 704)]
    altenburg = [submit(gateway, seed, altenburg=True) for seed in range(720, 722)]
    fail(gateway, gotha[0])
    fail(gateway, altenburg[0])
    return {"gotha": gotha, "altenburg": altenburg}


def _audit(gateway: Gateway, action: str) -> list[AuditEntry]:
    with Session(gateway.ctx.engine) as session:
        return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)).all())


def test_pages_need_sign_in_and_a_wrong_password_is_audited(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.url) as client:
        assert client.get("/console/messages").headers["location"] == "/console/login"
        form = client.get("/console/login")
        cookie = form.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        before = len(_audit(gateway, "sign-in"))
        wrong = client.post("/console/login", data={"csrf": csrf_of(form.text), "username": "root", "password": "nope"})
        assert wrong.status_code == 401
        # German by default (issue 12), English when the browser asks for it
        assert "Benutzername oder Passwort ist falsch" in wrong.text and 'lang="de"' in wrong.text
        english = client.post(
            "/console/login",
            data={"csrf": csrf_of(form.text), "username": "root", "password": "nope"},
            headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"},
        )
        assert english.status_code == 401 and "wrong" in english.text and 'lang="en"' in english.text
        entries = _audit(gateway, "sign-in")
        assert len(entries) == before + 2 and entries[-1].result == "failed" and entries[-1].actor == "root"
        assert client.get("/console/").status_code == 303


def test_every_console_route_needs_sign_in(gateway: Gateway, seeded: dict[str, Any]) -> None:
    """Walks the app's route table, so a new console page without the sign-in check fails here."""
    from fastapi.routing import APIRoute

    def walk(routes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for route in routes:
            inner = getattr(route, "original_router", None)  # an included router kept as one entry
            out.extend(walk(inner.routes) if inner is not None else [route])
        return out

    public = {("GET", "/console/login"), ("POST", "/console/login")}
    target = seeded["gotha"][0]
    checked = 0
    with httpx.Client(base_url=gateway.url) as client:
        for route in walk(list(gateway.app.routes)):
            if not isinstance(route, APIRoute) or not route.path.startswith("/console"):
                continue
            path = route.path.replace("{message_id}", target).replace("{xoev_id}", "psw:16077000")
            path = path.replace("{participant_id}", "psw:16077000").replace("{action}", "retry")
            for method in route.methods:
                if (method, route.path) in public or method == "HEAD":
                    continue
                response = client.request(method, path)
                assert response.status_code in (303, 401, 403), (method, route.path, response.status_code)
                if response.status_code == 303:
                    assert response.headers["location"] == "/console/login"
                checked += 1
    assert checked >= 8


def test_a_post_without_the_csrf_token_is_refused(gateway: Gateway, seeded: dict[str, Any]) -> None:
    with httpx.Client(base_url=gateway.url) as client:
        client.get("/console/login")
        refused = client.post("/console/login", data={"username": "root", "password": PASSWORD})
        assert refused.status_code == 403
    with sign_in(gateway, "root") as admin:
        target = seeded["gotha"][0]
        forged = admin.post(f"/console/messages/{target}/retry", data={"csrf": "x" * 43})
        assert forged.status_code == 403
        with Session(gateway.ctx.engine) as session:
            assert session.get(Message, uuid.UUID(target)).state is MessageState.FAILED  # type: ignore[union-attr]


def test_every_page_renders_for_the_gateway_admin(gateway: Gateway, seeded: dict[str, Any]) -> None:
    with sign_in(gateway, "root") as admin:
        dashboard = admin.get("/console/")
        assert dashboard.status_code == 200
        assert 'hx-get="/console/dashboard/panel"' in dashboard.text
        panel = admin.get("/console/dashboard/panel")
        assert 'data-queue="dead_letter"' in panel.text and "XtaRefused" in panel.text
        listing = admin.get("/console/messages", params={"state": "failed"})
        assert listing.text.count("/console/messages/") >= 2
        detail = admin.get(f"/console/messages/{seeded['gotha'][0]}")
        assert FAILURE in detail.text and "0501" in detail.text and "ProzessID" in detail.text
        assert admin.get(f"/console/messages/{seeded['gotha'][1]}/payload").content.startswith(b"<?xml")
        assert admin.get("/console/participants").status_code == 200
        assert admin.get("/console/participants/psw:16077000").status_code == 200
        assert admin.get("/console/audit").status_code == 200
        german = admin.get("/console/", headers={"Accept-Language": "de-DE,de;q=0.9"})
        assert "Übersicht" in german.text and 'lang="de"' in german.text


def test_a_participant_admin_sees_only_its_authority(gateway: Gateway, seeded: dict[str, Any]) -> None:
    with sign_in(gateway, "abg") as abg:
        listing = abg.get("/console/messages").text
        for own in seeded["altenburg"]:
            assert own in listing
        for other in seeded["gotha"]:
            assert other not in listing
            assert abg.get(f"/console/messages/{other}").status_code == 404
            assert abg.get(f"/console/messages/{other}/payload").status_code == 404
            assert abg.get(f"/console/messages/{other}/confirm/retry").status_code == 404
        assert abg.get("/console/participants/psw:16067000").status_code == 404
        assert abg.get("/console/audit").status_code == 403
        panel = abg.get("/console/dashboard/panel").text
        assert "XtaRefused" in panel  # its own failed message, counted in its own dashboard


def test_retry_is_confirmed_applied_and_audited(gateway: Gateway, seeded: dict[str, Any]) -> None:
    target = seeded["altenburg"][0]
    with sign_in(gateway, "viewer") as viewer:
        page = viewer.get(f"/console/messages/{target}")
        assert "/confirm/retry" not in page.text
        refused = viewer.post(f"/console/messages/{target}/retry", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403
    with sign_in(gateway, "abg") as abg:
        confirm = abg.get(f"/console/messages/{target}/confirm/retry")
        assert confirm.status_code == 200 and 'id="confirm"' in confirm.text
        done = abg.post(
            f"/console/messages/{target}/retry", data={"csrf": csrf_of(confirm.text), "note": "peer is back"}
        )
        assert done.status_code == 303
        again = abg.post(f"/console/messages/{target}/retry", data={"csrf": csrf_of(confirm.text)})
        assert again.status_code == 409
    with Session(gateway.ctx.engine) as session:
        message = session.get(Message, uuid.UUID(target))
        assert message is not None and message.state is MessageState.QUEUED
    entries = [e for e in _audit(gateway, "retry") if e.target == target]
    assert [(e.actor, e.result) for e in entries] == [("viewer", "refused"), ("abg", "ok"), ("abg", "refused")]
    assert "failed -> queued" in (entries[1].detail or "")


def test_participant_edit_is_audited(gateway: Gateway) -> None:
    with sign_in(gateway, "root") as admin:
        page = admin.get("/console/participants/psw:16077000")
        form = {
            "csrf": csrf_of(page.text),
            "name": "Landratsamt Altenburger Land (edited)",
            "versions": "3.0.0, 4.0.0",
            "route": "mailbox",
            "endpoint": "",
            "policy": "accept",
            "adapter": "",
        }
        assert admin.post("/console/participants/psw:16077000", data=form).status_code == 303
        bad = admin.post("/console/participants/psw:16077000", data={**form, "route": "xta"})
        assert bad.status_code == 400 and "endpoint_url" in bad.text
    entries = _audit(gateway, "participant.edit")
    assert entries[-2].result == "ok" and "(edited)" in (entries[-2].detail or "")
    assert entries[-1].result == "refused"
    with sign_in(gateway, "abg") as abg:
        page = abg.get("/console/participants/psw:16077000")
        assert abg.post("/console/participants/psw:16077000", data={"csrf": csrf_of(page.text)}).status_code == 403


def test_metrics_and_cli_show_the_dashboard_figures(
    gateway: Gateway, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.participants.tokens import Scope
    from tests.api.support import OPERATOR

    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as client:
        metrics = client.get("/metrics").text
    assert 'xgw_queue_messages{queue="outbound"}' in metrics
    assert "xgw_console_sign_in_failures_total" in metrics
    if gateway.backend != "sqlite":
        return
    monkeypatch.setenv("XGW_DATABASE_URL", str(gateway.ctx.engine.url))
    monkeypatch.setenv("XGW_DATA_DIR", str(gateway.ctx.settings.data_dir))
    result = CliRunner().invoke(cli, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert '"dead_letter"' in result.output
    listed = CliRunner().invoke(cli, ["queue", "ls", "--state", "failed", "--json"])
    assert seeded["gotha"][0] in listed.output
    shown = CliRunner().invoke(cli, ["queue", "show", seeded["gotha"][0]])
    assert FAILURE in shown.output
