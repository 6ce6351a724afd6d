"""Console security over real HTTP (issue 10): sessions end with their user, sign-in throttled per address,
small urlencoded-only form bodies, and the security headers of every page (also over real TLS).

Other client addresses are real: the client binds 127.0.0.2, 127.0.0.3 ... as its source address (all of
127/8 is loopback on Linux), and the server sees that peer address.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi.routing import APIRoute

from gateway.cli.main import cli
from gateway.console.users import add_user, remove_user
from gateway.store.models import ConsoleRole
from tests.api.support import Gateway
from tests.console.support import PASSWORD, csrf_of, sign_in

COOKIE = "xgw_console"
OTHER_PASSWORD = "another horse battery staple"


def _replay(gateway: Gateway, cookie: str) -> httpx.Client:
    """A fresh client that presents only a copied session cookie."""
    return httpx.Client(base_url=gateway.url, cookies={COOKIE: cookie}, timeout=30)


def _signed_in_page(client: httpx.Client, path: str = "/console/") -> bool:
    response = client.get(path)
    if response.status_code == 303:
        assert response.headers["location"] == "/console/login"
        return False
    assert response.status_code == 200, (path, response.status_code)
    return True


def _sign_in(gateway: Gateway, name: str, password: str = PASSWORD, **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=gateway.url, timeout=60, **kwargs) as client:
        form = client.get("/console/login")
        return client.post("/console/login", data={"csrf": csrf_of(form.text), "username": name, "password": password})


def _from(address: str) -> dict[str, Any]:
    return {"transport": httpx.HTTPTransport(local_address=address)}


# -- sessions ---------------------------------------------------------------------------------------------


def test_a_removed_users_cookie_never_signs_in_a_later_user(gateway: Gateway) -> None:
    """The issue's replay: SQLite hands the removed user's numeric id to the next user."""
    engine = gateway.ctx.engine
    add_user(engine, "leaver", PASSWORD, ConsoleRole.READ_ONLY)
    with sign_in(gateway, "leaver") as client:
        cookie = client.cookies[COOKIE]
        assert _signed_in_page(client)
    remove_user(engine, "leaver")
    add_user(engine, "newcomer", PASSWORD, ConsoleRole.GATEWAY_ADMIN)
    try:
        with _replay(gateway, cookie) as replayed:
            assert not _signed_in_page(replayed, "/console/audit")
            assert not _signed_in_page(replayed)
    finally:
        remove_user(engine, "newcomer")


def test_sign_out_ends_the_session_also_a_copied_cookie(gateway: Gateway) -> None:
    add_user(gateway.ctx.engine, "outgoing", PASSWORD, ConsoleRole.READ_ONLY)
    with sign_in(gateway, "outgoing") as client, sign_in(gateway, "outgoing") as elsewhere:
        copied = client.cookies[COOKIE]
        page = client.get("/console/")
        assert client.post("/console/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
        with _replay(gateway, copied) as replayed:
            assert not _signed_in_page(replayed)
        assert not _signed_in_page(elsewhere)  # sign-out ends every session of the user
    with sign_in(gateway, "outgoing") as again:
        assert _signed_in_page(again)


def test_a_new_role_or_password_ends_the_users_sessions(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(gateway.ctx.engine, "mover", PASSWORD, ConsoleRole.READ_ONLY)
    monkeypatch.setenv("XGW_DATABASE_URL", gateway.ctx.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("XGW_DATA_DIR", str(gateway.ctx.settings.data_dir))
    runner = CliRunner()
    with sign_in(gateway, "mover") as client:
        assert _signed_in_page(client)
        result = runner.invoke(cli, ["console-users", "set-role", "mover", "--role", "gateway-admin"])
        assert result.exit_code == 0, result.output
        assert not _signed_in_page(client, "/console/audit")
    with sign_in(gateway, "mover") as client:
        assert _signed_in_page(client, "/console/audit")  # the new role, after a new sign-in
        result = runner.invoke(cli, ["console-users", "set-password", "mover", "--password", OTHER_PASSWORD])
        assert result.exit_code == 0, result.output
        assert not _signed_in_page(client)
    assert _sign_in(gateway, "mover").status_code == 401
    assert _sign_in(gateway, "mover", OTHER_PASSWORD).status_code == 303
    with sign_in(gateway, "viewer") as client:
        assert runner.invoke(cli, ["console-users", "sign-out", "viewer"]).exit_code == 0
        assert not _signed_in_page(client)


# -- sign-in throttle -------------------------------------------------------------------------------------


def test_guessing_from_one_address_does_not_lock_the_admin_out_elsewhere(gateway: Gateway) -> None:
    add_user(gateway.ctx.engine, "guarded", PASSWORD, ConsoleRole.GATEWAY_ADMIN)
    limit = gateway.ctx.settings.console.max_failed_logins
    for _ in range(limit):
        assert _sign_in(gateway, "guarded", "wrong guess 12345", **_from("127.0.0.2")).status_code == 401
    refused = _sign_in(gateway, "guarded", **_from("127.0.0.2"))
    assert refused.status_code == 429  # even the right password, from the guessing address
    assert _sign_in(gateway, "guarded", **_from("127.0.0.5")).status_code == 303


def test_one_address_guessing_many_names_is_throttled(gateway: Gateway) -> None:
    from gateway.console import audit

    limit = gateway.ctx.settings.console.max_failed_logins_per_address
    for n in range(limit - 1):  # as the sign-in page writes them, without waiting for Argon2 each time
        audit.record(gateway.ctx.engine, f"nobody{n}", "sign-in", result=audit.FAILED, client="127.0.0.3")
    assert _sign_in(gateway, "nobody", "wrong guess 12345", **_from("127.0.0.3")).status_code == 401
    assert _sign_in(gateway, "viewer", **_from("127.0.0.3")).status_code == 429
    assert _sign_in(gateway, "viewer", **_from("127.0.0.4")).status_code == 303


# -- form bodies ------------------------------------------------------------------------------------------


def _raw_post(gateway: Gateway, path: str, headers: dict[str, str], body: bytes = b"") -> str:
    """Send only the request head (and ``body``), then read the status line: the answer must not wait
    for the announced body. A server that waits for it times out here."""
    url = httpx.URL(gateway.url)
    assert url.port is not None
    with socket.create_connection(("127.0.0.1", url.port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


HUGE = str(300 * 1024 * 1024)


def test_a_huge_multipart_sign_in_is_refused_before_its_body(gateway: Gateway) -> None:
    started = time.monotonic()
    status = _raw_post(
        gateway,
        "/console/login",
        {"Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": HUGE},
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n' + b"A" * 65536,
    )
    assert status == "HTTP/1.1 415 Unsupported Media Type"
    assert time.monotonic() - started < 5


def test_an_announced_huge_urlencoded_body_is_refused_before_it_arrives(gateway: Gateway) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": HUGE}
    assert _raw_post(gateway, "/console/login", headers, b"username=") == "HTTP/1.1 413 Request Entity Too Large"


def test_a_chunked_form_body_is_counted_while_it_arrives(gateway: Gateway) -> None:
    cap = gateway.ctx.settings.console.max_form_bytes

    def body(size: int) -> Iterator[bytes]:
        yield b"username=root&password="
        for _ in range(size // 4096):
            yield b"x" * 4096

    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        client.get("/console/login")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        small = client.post("/console/login", content=body(cap // 2), headers=headers)
        assert small.status_code == 403  # read and parsed: only the CSRF token is missing
        large = client.post("/console/login", content=body(cap + 8192), headers=headers)
        assert large.status_code == 413
        assert "chunked" in large.request.headers.get("transfer-encoding", "")
        # the refusal speaks the administrator's language: German when the browser asks for it
        german = client.post(
            "/console/login", content=body(cap + 8192), headers={**headers, "Accept-Language": "de-DE,de;q=0.9"}
        )
        assert german.headers["content-language"] == "de"
        assert f"Anfrage zu groß: höchstens {cap // 1024} KiB" in german.text


def test_a_form_with_too_many_fields_is_refused(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        csrf = csrf_of(client.get("/console/login").text)
        fields = {"csrf": csrf, "username": "root", "password": PASSWORD} | {f"f{n}": "x" for n in range(200)}
        assert client.post("/console/login", data=fields).status_code == 413


def test_every_console_form_refuses_multipart(gateway: Gateway) -> None:
    with sign_in(gateway, "root") as admin:
        csrf = csrf_of(admin.get("/console/").text)
        for path in ("/console/logout", "/console/participants/psw:16077000"):
            response = admin.post(path, data={"csrf": csrf}, files={"f": ("a.txt", b"x")})
            assert response.status_code == 415, (path, response.status_code)
            assert "application/x-www-form-urlencoded" in response.text
        assert _signed_in_page(admin)  # the refused sign-out did not happen


# -- security headers -------------------------------------------------------------------------------------


def _console_get_routes(gateway: Gateway) -> list[str]:
    def walk(routes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for route in routes:
            inner = getattr(route, "original_router", None)
            out.extend(walk(inner.routes) if inner is not None else [route])
        return out

    paths = []
    for route in walk(list(gateway.app.routes)):
        if isinstance(route, APIRoute) and route.path.startswith("/console") and "GET" in route.methods:
            paths.append(route.path)
    return paths


def _concrete(path: str, message_id: str) -> str:
    for name, value in {
        "{message_id}": message_id,
        "{xoev_id}": "psw:16077000",
        "{participant_id}": "psw:16077000",
        "{action}": "retry",
    }.items():
        path = path.replace(name, value)
    assert "{" not in path, f"no test value for a parameter of {path}"
    return path


def _check_headers(response: httpx.Response, *, https: bool = False) -> None:
    where = (response.request.method, response.request.url.path, response.status_code)
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("cache-control") == "no-store", where
    assert ("strict-transport-security" in headers) is https, where
    if headers.get("content-type", "").startswith("text/html"):
        text = response.text
        assert "<script>" not in text and " style=" not in text and "<style" not in text, where  # CSP-proof


def test_every_console_page_carries_the_security_headers(gateway: Gateway) -> None:
    """Walks the app's route table, so a new page cannot be forgotten; signed out and signed in."""
    from tests.console.support import submit

    message_id = submit(gateway, 960)
    paths = [_concrete(p, message_id) for p in _console_get_routes(gateway)]
    assert len(paths) >= 8
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        for path in paths:
            _check_headers(anonymous.get(path))
        _check_headers(anonymous.get("/console/no-such-page"))
    html = 0
    with sign_in(gateway, "root") as admin:
        for path in paths:
            response = admin.get(path)
            assert response.status_code < 500, path
            _check_headers(response)
            html += response.headers.get("content-type", "").startswith("text/html")
        _check_headers(admin.get("/console/messages/00000000-0000-0000-0000-000000000000"))
        static = admin.get("/console/static/console.css")
        assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in static.headers["content-security-policy"]
        assert static.headers.get("cache-control") != "no-store"  # static files may be cached
    assert html >= 6


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_over_https_the_cookie_is_secure_and_hsts_is_sent(gateway: Gateway, tmp_path: Path) -> None:
    """The same app served over real TLS on loopback."""
    cert, key = _self_signed(tmp_path)
    config = uvicorn.Config(
        gateway.app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            time.sleep(0.01)
        assert server.started
        port = server.servers[0].sockets[0].getsockname()[1]
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust, timeout=30) as client:
            form = client.get("/console/login")
            _check_headers(form, https=True)
            cookie = form.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
            signed = client.post(
                "/console/login", data={"csrf": csrf_of(form.text), "username": "root", "password": PASSWORD}
            )
            assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower()
            _check_headers(client.get("/console/"), https=True)
            german = client.get("/console/", params={"lang": "de"})
            cookies = german.headers.get_list("set-cookie")
            assert cookies and all("secure" in c.lower() and "httponly" in c.lower() for c in cookies), cookies
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    with httpx.Client(base_url=gateway.url) as plain:
        assert "secure" not in plain.get("/console/login").headers["set-cookie"].lower()
