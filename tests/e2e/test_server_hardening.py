"""Hostile clients against a real ``xgw serve``: stalled and trickling uploads, huge and endless request heads,
forged forwarded headers, plain HTTP beyond loopback.

One plain-HTTP gateway on 127.0.0.1 with short limits serves the module (the limits are what is under
test, so they are small enough to be crossed in seconds). Clients are raw sockets, because httpx would
never send a stalled body or a 20 MB header line. Every wait is bounded; the server is stopped by its PID.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import trustme
from click.testing import CliRunner
from cryptography import x509
from sqlmodel import Session, col
from sqlmodel import select as sql_select

from gateway.cli.main import cli
from gateway.demo import DEMO_DIRECTORY
from gateway.store.db import create_engine
from gateway.store.models import Certificate, CertificateUsage, Participant
from gateway.transport.xta.backend import PartyId
from gateway.xoev.signatures.signature import certificate_fingerprint
from tests.e2e.support import XGW, free_port, wait_for
from tests.xta.support import ACTIONS, author_header, envelope

DISTRICT = "psw:16077000"
TRUSTED_PROXY = "192.0.2.10"  # TEST-NET-1: an address no test client can have
LOOPBACK_PROXY = "127.0.0.2"  # a proxy on the gateway's host: the tests connect from this source address
CERT_HEADER = "X-SSL-Client-Cert"
IDLE = 3.0  # long enough for all 45 stalled uploads to be admitted or refused before the first slot frees
HEAD_TIMEOUT = 2.0
MAX_UPLOADS = 6
PER_TOKEN = 2
LIMITS: dict[str, object] = {
    "body_idle_seconds": IDLE,
    "body_min_bytes_per_second": 2000,
    "header_timeout_seconds": HEAD_TIMEOUT,
    "max_uploads": MAX_UPLOADS,
    "max_uploads_per_token": PER_TOKEN,
}


@dataclass
class Gateway:
    """One ``xgw serve`` over plain HTTP with its own folder, configuration and tokens."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tokens: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
        env["XGW_CONFIG"] = str(self.folder / "xgw.toml")
        return env

    def configure(self, groups: dict[str, dict[str, object]]) -> None:
        lines = [
            f'data_dir = "{self.folder / "var"}"',
            f'database_url = "sqlite:///{self.folder / "var" / "gateway.db"}"',
            f'schema_cache_dir = "{self.folder.parent / "schema-cache"}"',
        ]
        for group, values in groups.items():
            lines.append(f"[{group}]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
        (self.folder / "xgw.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def xgw(self, *args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    def start(self) -> None:
        log = (self.folder / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [XGW, "serve", "--port", str(self.port), "--no-worker", "--log-level", "warning"],
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for("the gateway to serve", self._ready, seconds=90, why=self.log_tail)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"xgw serve exited with {self.process.returncode}: {self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        path = self.folder / "serve.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def rss_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def pin_tls(self, participant: str, pem: str) -> None:
        cert = x509.load_pem_x509_certificate(pem.encode())
        engine = create_engine(f"sqlite:///{self.folder / 'var' / 'gateway.db'}")
        try:
            with Session(engine) as session:
                owner = session.exec(sql_select(Participant).where(col(Participant.xoev_id) == participant)).one()
                assert owner.id is not None
                session.add(
                    Certificate(
                        participant_id=owner.id,
                        pem=pem,
                        fingerprint_sha256=certificate_fingerprint(cert),
                        not_before=cert.not_valid_before_utc,
                        not_after=cert.not_valid_after_utc,
                        usage=CertificateUsage.TLS,
                    )
                )
                session.commit()
        finally:
            engine.dispose()


@dataclass
class Setup:
    gateway: Gateway
    district_pem: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("hardening")
    gateway = Gateway(root / "gw")
    gateway.folder.mkdir()
    gateway.configure(
        {
            "server": LIMITS,
            "xta_server": {"client_cert_header": CERT_HEADER, "trusted_proxies": [TRUSTED_PROXY, LOOPBACK_PROXY]},
            "console": {"enabled": True},
        }
    )
    gateway.xgw("participants", "import", str(DEMO_DIRECTORY))
    gateway.tokens = [gateway.xgw("tokens", "create", DISTRICT, "--scope", "submit,read").strip() for _ in range(5)]
    pem = trustme.CA().issue_cert("district.example", common_name="district").cert_chain_pems[0].bytes().decode()
    gateway.pin_tls(DISTRICT, pem)
    gateway.start()
    try:
        yield Setup(gateway, pem)
    finally:
        gateway.stop()


# -- raw HTTP ------------------------------------------------------------------------------------------------


def connect(gateway: Gateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.port), timeout=10)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(sock: socket.socket, seconds: float) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the response on ``sock``, waiting at most ``seconds``."""
    sock.settimeout(seconds)
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def closed_within(sock: socket.socket, seconds: float, keep_sending: bytes = b"") -> float | None:
    """Seconds until the server closed ``sock`` (None: still open after ``seconds``)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        readable, _, _ = select.select([sock], [], [], 0.25)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - started
            except OSError:
                return time.monotonic() - started
        elif keep_sending:
            try:
                sock.sendall(keep_sending)
            except OSError:
                return time.monotonic() - started
    return None


def stalled_upload(gateway: Gateway, token: str) -> socket.socket:
    sock = connect(gateway)
    headers = {"Authorization": f"Bearer {token}", "Content-Length": "5000000", "X-Filename": "x.xml"}
    sock.sendall(head("POST", "/api/v1/messages", headers) + b"<" + b"x" * 1023)
    return sock


# -- stalls --------------------------------------------------------------------------------------------------


def test_forty_five_stalled_uploads_leave_health_api_and_console_answering(setup: Setup) -> None:
    gateway = setup.gateway
    uploads = [stalled_upload(gateway, gateway.tokens[i % len(gateway.tokens)]) for i in range(45)]
    try:
        time.sleep(0.5)  # every upload has reached its route
        with httpx.Client(base_url=gateway.url, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
            listing = client.get("/api/v1/messages", headers={"Authorization": f"Bearer {gateway.tokens[0]}"})
            assert listing.status_code == 200
            assert client.get("/console/login").status_code == 200
        statuses = [answer(sock, IDLE + 15)[0] for sock in uploads]
    finally:
        for sock in uploads:
            sock.close()
    # the admitted ones are cut off by the idle timeout; the others were refused at once
    assert statuses.count(408) <= MAX_UPLOADS
    assert statuses.count(408) >= 1
    assert statuses.count(429) + statuses.count(503) >= 45 - MAX_UPLOADS
    assert set(statuses) <= {408, 429, 503}, statuses
    # every slot is free again
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        token = {"Authorization": f"Bearer {gateway.tokens[0]}"}
        assert client.post("/api/v1/validate", content=b"<x/>", headers=token).status_code == 200


def test_an_upload_over_the_per_token_bound_is_refused_with_429_and_retry_after(setup: Setup) -> None:
    gateway = setup.gateway
    token = gateway.tokens[1]
    held = [stalled_upload(gateway, token) for _ in range(PER_TOKEN)]
    try:
        time.sleep(0.3)
        extra = stalled_upload(gateway, token)
        status, headers, body = answer(extra, 5)
        extra.close()
        assert status == 429
        assert headers["retry-after"].isdigit()
        assert json.loads(body)["type"] == "urn:xoev-gateway:problem:too-many-uploads"
    finally:
        for sock in held:
            sock.close()


def test_a_trickling_upload_is_cut_off_below_the_minimum_rate(setup: Setup) -> None:
    gateway = setup.gateway
    sock = connect(gateway)
    headers = {"Authorization": f"Bearer {gateway.tokens[2]}", "Content-Length": "5000000"}
    sock.sendall(head("POST", "/api/v1/validate", headers))
    started = time.monotonic()
    try:
        while time.monotonic() - started < 15:  # 100 bytes every 0.25 s: 400 B/s, never idle for IDLE seconds
            readable, _, _ = select.select([sock], [], [], 0.25)
            if readable:
                break
            sock.sendall(b"x" * 100)
        status, _, body = answer(sock, 5)
    finally:
        sock.close()
    elapsed = time.monotonic() - started
    assert status == 408
    problem = json.loads(body)
    assert problem["type"] == "urn:xoev-gateway:problem:upload-timeout"
    assert "bytes/s" in problem["detail"]
    assert elapsed < 10


# -- request heads -------------------------------------------------------------------------------------------


def test_a_request_head_over_the_limit_is_answered_431(setup: Setup) -> None:
    sock = connect(setup.gateway)
    try:
        sock.sendall(head("GET", "/healthz", {"X-Pad": "a" * 100_000}))
        status, _, body = answer(sock, 10)
    finally:
        sock.close()
    assert status == 431
    assert json.loads(body)["status"] == 431


def send_huge_header(gateway: Gateway, name: str, megabytes: int) -> int:
    """Bytes accepted of a ``megabytes`` MB header line before the server closes; all of them if never."""
    sock = connect(gateway)
    sent = 0
    chunk = b"a" * (1024 * 1024)
    try:
        sock.sendall(f"GET /api/v1/messages HTTP/1.1\r\nHost: x\r\n{name}: ".encode())
        for _ in range(megabytes):
            sock.sendall(chunk)
            sent += len(chunk)
        sock.sendall(b"\r\n\r\n")
        status, _, _ = answer(sock, 10)
        return sent if status != 431 else 0
    except OSError:
        return sent
    finally:
        sock.close()


def test_huge_headers_are_not_read_and_do_not_grow_the_server(setup: Setup) -> None:
    gateway = setup.gateway
    before = gateway.rss_mib()
    accepted = [send_huge_header(gateway, "X-Pad", 20) for _ in range(20)]
    accepted.append(send_huge_header(gateway, "Authorization", 10))
    grown = gateway.rss_mib() - before
    assert all(sent < 20 * 1024 * 1024 for sent in accepted[:20]), accepted
    assert accepted[-1] < 10 * 1024 * 1024
    assert grown < 64, f"the server grew by {grown:.0f} MiB"
    assert httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200


def test_a_request_head_that_never_ends_is_closed(setup: Setup) -> None:
    sock = connect(setup.gateway)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        after = closed_within(sock, 10, keep_sending=b"X-A: b\r\n")
    finally:
        sock.close()
    assert after is not None and after < HEAD_TIMEOUT + 3


def test_an_idle_connection_is_closed(setup: Setup) -> None:
    sock = connect(setup.gateway)
    try:
        after = closed_within(sock, 10)
    finally:
        sock.close()
    assert after is not None and after < HEAD_TIMEOUT + 3


# -- forwarded headers ---------------------------------------------------------------------------------------


def check_account(gateway: Gateway, headers: dict[str, str], source: str = "127.0.0.1") -> httpx.Response:
    url = f"{gateway.url}/services/XTAService/ManagementPort"
    body = envelope(ACTIONS["checkAccountActive"], url, author_header(PartyId(DISTRICT, "xoev")), "")
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30) as client:
        return client.post(url, content=body, headers={"Content-Type": "application/soap+xml", **headers})


def test_a_local_caller_cannot_pose_as_the_trusted_proxy(setup: Setup) -> None:
    certificate = quote(setup.district_pem)
    # the real proxy (its TCP peer address is trusted) is believed ...
    answered = check_account(setup.gateway, {CERT_HEADER: certificate}, source=LOOPBACK_PROXY)
    assert answered.status_code == 200, answered.text  # checkAccountActive: 200 (empty body) means active
    assert b"Fault" not in answered.content
    # ... a caller that only names a proxy in X-Forwarded-For is not
    for proxy in (TRUSTED_PROXY, LOOPBACK_PROXY):
        forged = check_account(setup.gateway, {"X-Forwarded-For": proxy, CERT_HEADER: certificate})
        assert forged.status_code != 200
        assert b"9014" in forged.content  # no certificate proven: the header was not believed


# -- exposure ------------------------------------------------------------------------------------------------


def test_plain_http_beyond_loopback_is_refused_without_the_flag(setup: Setup) -> None:
    # 192.0.2.1 (TEST-NET-1) is never bound: the refusal must come before any attempt to listen
    done = subprocess.run(
        [XGW, "serve", "--host", "192.0.2.1", "--port", str(free_port()), "--no-worker"],
        cwd=setup.gateway.folder,
        env=setup.gateway.env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr.decode(errors="replace")[-2000:]
    assert b"--allow-plain-http" in done.stderr
