"""Directory sign-in (issue 12) against a real OpenLDAP slapd started by the tests, over real HTTP.

The gateway finds users with a service account and binds as them over StartTLS checked against the
test's CA; ``memberOf`` (the slapd memberof overlay, as in Active Directory) decides the role. The
directory is asked again on every request here (``recheck_seconds = 0``), so a user removed from the
group or from the directory loses the session at the next page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from gateway.config import ConsoleLdap, LdapGroupRole, Settings
from gateway.console.directory import Directory, DirectoryError
from gateway.console.users import NO_PASSWORD, add_user
from gateway.store.models import AuditEntry, ConsoleRole, ConsoleUser
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.api.support import ALTENBURG, Gateway, running_gateway
from tests.console.slapd import (
    ADMINS,
    ALTENBURG_ADMINS,
    GROUPS,
    OTHERS,
    PEOPLE,
    READER_DN,
    READER_PASSWORD,
    VIEWERS,
    Slapd,
    running_slapd,
)
from tests.console.support import csrf_of

PASSWORDS = {"anna": "anna-directory-pw-1", "bernd": "bernd-directory-pw-2", "carla": "carla-directory-pw-3"}


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        anna = server.add_user("anna", PASSWORDS["anna"], "anna@example.org")
        bernd = server.add_user("bernd", PASSWORDS["bernd"])
        carla = server.add_user("carla", PASSWORDS["carla"])
        server.add_group(ADMINS, anna)
        server.add_group(ALTENBURG_ADMINS, bernd)
        server.add_group(VIEWERS)
        server.add_group(OTHERS, carla)
        yield server


def ldap_settings(slapd: Slapd, **changes: Any) -> ConsoleLdap:
    config = ConsoleLdap(
        enabled=True,
        url=slapd.url,
        start_tls=True,
        ca_file=slapd.ca_file,
        bind_dn=READER_DN,
        bind_password=READER_PASSWORD,
        user_search_base=PEOPLE,
        groups=[
            LdapGroupRole(group=ADMINS, role="gateway-admin"),
            LdapGroupRole(group=ALTENBURG_ADMINS.upper(), role="participant-admin", participant=ALTENBURG),
            LdapGroupRole(group=VIEWERS, role="read-only"),
        ],
        recheck_seconds=0,
    )
    return config.model_copy(update=changes)


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, registry: SchemaRegistry, slapd: Slapd
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("console-ldap")
    with running_gateway("sqlite", folder, settings, registry, console_ldap=ldap_settings(slapd)) as running:
        yield running


def _sign_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    form = client.get("/console/login")
    return client.post("/console/login", data={"csrf": csrf_of(form.text), "username": name, "password": password})


def _client(gateway: Gateway, address: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(base_url=gateway.url, timeout=60, transport=httpx.HTTPTransport(local_address=address))


def _signed_in(client: httpx.Client, path: str = "/console/") -> bool:
    response = client.get(path)
    if response.status_code == 303:
        assert response.headers["location"] == "/console/login"
        return False
    assert response.status_code == 200, (path, response.status_code)
    return True


def _user(gateway: Gateway, name: str) -> ConsoleUser | None:
    with Session(gateway.ctx.engine) as session:
        return session.exec(select(ConsoleUser).where(col(ConsoleUser.name) == name)).first()


def _last_audit(gateway: Gateway, actor: str) -> AuditEntry:
    with Session(gateway.ctx.engine) as session:
        entry = session.exec(
            select(AuditEntry).where(col(AuditEntry.actor) == actor).order_by(col(AuditEntry.id).desc())
        ).first()
    assert entry is not None
    return entry


def test_right_password_signs_in_with_the_mapped_role(gateway: Gateway) -> None:
    with _client(gateway) as client:
        assert _sign_in(client, "anna", PASSWORDS["anna"]).status_code == 303
        assert _signed_in(client, "/console/audit")  # gateway admins only
    anna = _user(gateway, "anna")
    assert anna is not None
    assert (anna.source, anna.role, anna.participant) == ("ldap", ConsoleRole.GATEWAY_ADMIN, None)
    assert anna.email == "anna@example.org"
    assert anna.password_hash == NO_PASSWORD  # nothing of the password is kept
    with _client(gateway) as client:  # the directory's names are case-insensitive: the same record
        assert _sign_in(client, "ANNA", PASSWORDS["anna"]).status_code == 303
    assert _user(gateway, "ANNA") is None
    with _client(gateway) as client:
        assert _sign_in(client, "bernd", PASSWORDS["bernd"]).status_code == 303
        assert _signed_in(client)
        assert client.get("/console/audit").status_code == 403
    bernd = _user(gateway, "bernd")
    assert bernd is not None
    assert (bernd.role, bernd.participant) == (ConsoleRole.PARTICIPANT_ADMIN, ALTENBURG)


def test_wrong_or_empty_password_is_refused_and_audited(gateway: Gateway) -> None:
    with _client(gateway, "127.0.0.11") as client:
        assert _sign_in(client, "anna", "not-annas-password").status_code == 401
        assert _last_audit(gateway, "anna").detail == "wrong name or password"
        # an empty password would be an anonymous bind, which LDAP answers with success
        assert _sign_in(client, "anna", "").status_code == 401
        assert _sign_in(client, "nobody-at-all", "whatever-password").status_code == 401
        assert not _signed_in(client)


def test_directory_user_in_no_mapped_group_cannot_sign_in(gateway: Gateway) -> None:
    with _client(gateway, "127.0.0.12") as client:
        assert _sign_in(client, "carla", PASSWORDS["carla"]).status_code == 401
    assert _last_audit(gateway, "carla").detail == "in no mapped directory group"
    assert _user(gateway, "carla") is None  # no record for somebody who never got in


def test_removed_from_the_group_or_the_directory_the_session_dies(gateway: Gateway, slapd: Slapd) -> None:
    dora = slapd.add_user("dora", "dora-directory-pw-4")
    slapd.join(VIEWERS, dora)
    erik = slapd.add_user("erik", "erik-directory-pw-5")
    slapd.join(VIEWERS, erik)
    with _client(gateway) as dora_client, _client(gateway) as erik_client:
        assert _sign_in(dora_client, "dora", "dora-directory-pw-4").status_code == 303
        assert _sign_in(erik_client, "erik", "erik-directory-pw-5").status_code == 303
        assert _signed_in(dora_client)
        assert _signed_in(erik_client)
        slapd.leave(VIEWERS, dora)
        slapd.delete(erik)
        assert not _signed_in(dora_client)
        assert not _signed_in(erik_client)
        assert _sign_in(dora_client, "dora", "dora-directory-pw-4").status_code == 401
    entry = _last_audit(gateway, "erik")
    assert (entry.action, entry.result, entry.detail) == ("session", "refused", "directory: no longer in the directory")
    # back in the group, dora signs in again, and her old cookie stays dead
    slapd.join(VIEWERS, dora)
    with _client(gateway) as client:
        assert _sign_in(client, "dora", "dora-directory-pw-4").status_code == 303
        assert _signed_in(client)


def test_filters_escape_what_the_user_typed(gateway: Gateway, slapd: Slapd) -> None:
    """``ann*`` unescaped would find anna and bind as her with her password; escaped it finds nobody."""
    with _client(gateway, "127.0.0.13") as client:
        for name in ("ann*", "*", "anna)(uid=*", "a*)(|(uid=*"):
            assert _sign_in(client, name, PASSWORDS["anna"]).status_code == 401, name
        assert not _signed_in(client)
    config = ldap_settings(slapd, user_dn_template=f"uid={{username}},{PEOPLE}", group_attribute=None)
    config = config.model_copy(update={"group_search_base": GROUPS})
    directory = Directory(config)
    assert directory.authenticate("anna", PASSWORDS["anna"]).user is not None  # DN template, groups searched
    assert directory.authenticate("anna,ou=people", PASSWORDS["anna"]).user is None
    assert directory.authenticate("*", PASSWORDS["anna"]).user is None


def test_a_local_user_is_never_taken_over_by_the_directory(gateway: Gateway, slapd: Slapd) -> None:
    local_password = "local-password-of-frida"
    add_user(gateway.ctx.engine, "frida", local_password, ConsoleRole.READ_ONLY)
    frida = slapd.add_user("frida", "frida-directory-pw-6")
    slapd.join(ADMINS, frida)
    with _client(gateway) as client:
        assert _sign_in(client, "frida", "frida-directory-pw-6").status_code == 401
        assert _sign_in(client, "frida", local_password).status_code == 303
    user = _user(gateway, "frida")
    assert user is not None
    assert (user.source, user.role) == ("local", ConsoleRole.READ_ONLY)


def test_directory_sign_ins_are_throttled(gateway: Gateway) -> None:
    limit = gateway.ctx.settings.console.max_failed_logins
    with _client(gateway, "127.0.0.14") as client:
        for _ in range(limit):
            assert _sign_in(client, "anna", "wrong guess 12345").status_code == 401
        assert _sign_in(client, "anna", PASSWORDS["anna"]).status_code == 429
    with _client(gateway, "127.0.0.15") as client:
        assert _sign_in(client, "anna", PASSWORDS["anna"]).status_code == 303


def test_start_tls_checks_the_directory_certificate(slapd: Slapd, tmp_path: Path) -> None:
    assert Directory(ldap_settings(slapd)).authenticate("anna", PASSWORDS["anna"]).user is not None
    ldaps = ldap_settings(slapd, url=slapd.ldaps_url)
    assert Directory(ldaps).authenticate("anna", PASSWORDS["anna"]).user is not None
    import trustme

    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    with pytest.raises(DirectoryError, match="unreachable"):
        Directory(ldap_settings(slapd, ca_file=stranger)).authenticate("anna", PASSWORDS["anna"])
    with pytest.raises(DirectoryError, match="allow_plain"):
        Directory(ldap_settings(slapd, start_tls=False))
    plain = ldap_settings(slapd, start_tls=False, allow_plain=True)
    assert Directory(plain).authenticate("anna", PASSWORDS["anna"]).user is not None


def test_an_unreachable_directory_is_a_503_not_a_fallback(
    tmp_path: Path, settings: Settings, registry: SchemaRegistry, slapd: Slapd
) -> None:
    from tests.console.slapd import free_port

    config = ldap_settings(slapd, url=f"ldap://localhost:{free_port()}", timeout_seconds=2)
    with running_gateway("sqlite", tmp_path, settings, registry, console_ldap=config) as running:
        with _client(running) as client:
            response = _sign_in(client, "anna", PASSWORDS["anna"])
            assert response.status_code == 503
            assert "Verzeichnis" in response.text or "directory" in response.text
        secret = READER_PASSWORD
        with Session(running.ctx.engine) as session:
            details = [e.detail or "" for e in session.exec(select(AuditEntry)).all()]
        assert details
        assert not any(secret in d for d in details)
