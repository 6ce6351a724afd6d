"""Gateways as operators run them: each an ``xgw serve`` process with its own folder, database, keys and
directory, configured through its own ``xgw.toml`` and the ``xgw`` commands, speaking HTTPS with client
certificates from a test CA on loopback.

A :class:`Node` is one gateway. Set-up commands (``participants import``, ``keys create``, ``tokens
create``) run in-process through click with the node's environment; the server itself is a real
subprocess, so it can be stopped, killed and restarted like a production one. TLS client certificates
are pinned straight into the node's ``certificate`` table: the gateway has no command for that yet.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import trustme
from click.testing import CliRunner
from cryptography import x509
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.cli.main import cli
from gateway.config import Settings
from gateway.pipeline.context import PAYLOADS_DIR
from gateway.samples.generate import ARCHIVE as ARCHIVE_PARTY
from gateway.samples.generate import generate_message
from gateway.store.db import create_engine
from gateway.store.models import Certificate, CertificateUsage, Message, MessageEvent, Participant
from gateway.store.payloads import PayloadStore
from gateway.transport.xta.backend import PartyId
from gateway.transport.xta_client.client import XtaClient
from gateway.transport.xta_client.peer import make_peer
from gateway.xoev.build import build
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.model import Party
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.signature import certificate_fingerprint, strip_signature

DISTRICT = "psw:16077000"  # Landratsamt Altenburger Land, hosted by gateway A
ARCHIVE = "psw:16000001"  # Landesarchiv Thüringen (the generator's archive), hosted by gateway B
GREIZ = "psw:16076000"  # another member hosted by A: its certificate must not open the district's account
DISTRICT_PARTY = Party(
    institution="Landratsamt Altenburger Land",
    institution_short="LRA ABG",
    organisation_unit="Fachdienst Zentrale Dienste, Registratur",
    authority_prefix="psw",
    authority_id="16077000",
)
assert ARCHIVE_PARTY.xoev_identifier == ARCHIVE
XGW = str(Path(sys.executable).parent / "xgw")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    seconds: float = 60.0,
    every: float = 0.1,
    why: Callable[[], object] = lambda: "",
) -> T:
    """Poll ``probe`` until it returns something; bounded in time and in tries."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / every) + 1):
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            break
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} {why()}")


# -- certificates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())

    @property
    def pair(self) -> tuple[str, str]:
        return (str(self.cert), str(self.key))


class Pki:
    """A test CA and the certificates it issues, as PEM files under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="xoev-gateway test CA")
        self.ca_file = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def issue(self, name: str) -> Issued:
        """A certificate for ``name`` valid as TLS server (127.0.0.1, localhost) and client."""
        issued = self.ca.issue_cert("127.0.0.1", "localhost", common_name=name)
        cert, key = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        return Issued(cert, key)


# -- one gateway ----------------------------------------------------------------------------------------------


@dataclass
class Node:
    """One gateway: its folder, settings file, TLS identity and (while running) its server process."""

    name: str
    folder: Path
    pki: Pki
    identity: Issued
    cache: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    starts: int = 0
    last_error: str = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def xta_url(self) -> str:
        return f"{self.url}/services/XTAService"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'var' / 'gateway.db'}"

    def configure(self, *, peers: list[str], extra: dict[str, dict[str, Any]] | None = None) -> None:
        """Write ``xgw.toml``: data, database, the XTA client's identity and peers, short test timings."""
        groups: dict[str, dict[str, Any]] = {
            "xta_server": {"server_identity": f"xoev-gateway {self.name}"},
            "xta_client": {
                "client_cert": str(self.identity.cert),
                "client_key": str(self.identity.key),
                "connect_timeout": 2.0,
                "read_timeout": 5.0,
                "operation_timeout": 20.0,
                "max_attempts": 2,
                "backoff_base_seconds": 0.05,
                "backoff_max_seconds": 0.2,
                "breaker_threshold": 1000,
            },
            "pipeline": {
                "poll_seconds": 0.1,
                "retry_base_seconds": 0.2,
                "retry_max_seconds": 1.0,
                "max_attempts": 60,
            },
        }
        for group, values in (extra or {}).items():
            groups.setdefault(group, {}).update(values)
        lines = [
            f'data_dir = "{self.folder / "var"}"',
            f'database_url = "{self.database_url}"',
            f'schema_cache_dir = "{self.cache}"',
        ]
        for group, values in groups.items():
            lines.append(f"[{group}]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
        for url in peers:
            lines += ["[[xta_client.peers]]", f'url = "{url}"', f'ca_bundle = "{self.pki.ca_file}"']
        text = "\n".join(lines) + "\n"
        self.config = tomllib.loads(text)
        (self.folder / "xgw.toml").write_text(text, encoding="utf-8")

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
        env["XGW_CONFIG"] = str(self.folder / "xgw.toml")
        return env

    def settings(self) -> Settings:
        return Settings(**self.config)

    def xgw(self, *args: str) -> str:
        """Run an ``xgw`` command as this gateway's operator; its standard output."""
        result = CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)
        assert result.exit_code == 0, f"xgw {' '.join(args)} on {self.name}: {result.output}"
        return result.stdout

    # -- the server process ----------------------------------------------------------------------------

    def start(self, *extra: str) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        self.starts += 1
        log = (self.folder / f"serve-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                XGW,
                "serve",
                "--port",
                str(self.port),
                "--tls-cert",
                str(self.identity.cert),
                "--tls-key",
                str(self.identity.key),
                "--tls-client-ca",
                str(self.pki.ca_file),
                "--log-level",
                "warning",
                *extra,
            ],
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(f"{self.name} to serve", self._ready, seconds=90, why=lambda: self.last_error)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
        try:
            with self.http() as client:
                return client.get("/readyz").status_code == 200
        except httpx.TransportError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False

    def stop(self) -> None:
        """Stop as an operator does (SIGINT, graceful); killed if it does not finish within 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """The machine loses power: no shutdown at all."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        logs = sorted(self.folder.glob("serve-*.log"), key=lambda log: int(log.stem.removeprefix("serve-")))
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    # -- clients -----------------------------------------------------------------------------------------

    def http(self, token: str | None = None, cert: Issued | None = None) -> httpx.Client:
        """REST client presenting ``cert`` (default: a certificate of the CA pinned nowhere)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, verify=self.tls(cert or self.pki_client))

    def tls(self, cert: Issued | None) -> ssl.SSLContext:
        """Trust this node's CA and present ``cert`` (httpx's ``cert=`` is ignored beside a CA file)."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        if cert is not None:
            context.load_cert_chain(str(cert.cert), str(cert.key))
        return context

    @property
    def pki_client(self) -> Issued:
        path = self.pki.folder / "rest-client.pem"
        if not path.exists():
            return self.pki.issue("rest-client")
        return Issued(path, self.pki.folder / "rest-client.key")

    def xta(self, cert: Issued, **client: Any) -> XtaClient:
        """The gateway's own XTA client, pointed at this node with ``cert`` as its identity."""
        settings = self.settings().model_copy(
            update={
                "data_dir": self.folder / "test-client",
                "xta_client": self.settings().xta_client.model_copy(update={"max_attempts": 1, **client}),
            }
        )
        peer = make_peer(self.xta_url, ca_bundle=self.pki.ca_file, client_cert=cert.cert, client_key=cert.key)
        return XtaClient(peer, settings)

    def token(self, participant: str) -> str:
        return self.xgw("tokens", "create", participant, "--scope", "submit,read").strip()

    # -- the database, read (and for TLS pins written) directly ----------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        engine: Engine = create_engine(self.database_url)
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()

    def pin_tls(self, participant: str, issued: Issued) -> None:
        cert = issued.certificate()
        with self.session() as session:
            owner = session.exec(select(Participant).where(col(Participant.xoev_id) == participant)).one()
            assert owner.id is not None
            session.add(
                Certificate(
                    participant_id=owner.id,
                    pem=issued.cert.read_text(encoding="ascii"),
                    fingerprint_sha256=certificate_fingerprint(cert),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    usage=CertificateUsage.TLS,
                )
            )
            session.commit()

    def signing_certificate(self, participant: str) -> str:
        """PEM of the participant's pinned signing certificate (made by ``xgw keys create``)."""
        with self.session() as session:
            rows = session.exec(
                select(Certificate)
                .join(Participant, col(Participant.id) == col(Certificate.participant_id))
                .where(col(Participant.xoev_id) == participant, col(Certificate.usage) == CertificateUsage.SIGNING)
            ).all()
            assert len(rows) == 1, rows
            return rows[0].pem

    def payload(self, ref: str) -> bytes:
        return PayloadStore(self.folder / "var" / PAYLOADS_DIR).path_of(ref).read_bytes()

    def messages(self, **where: Any) -> list[Message]:
        with self.session() as session:
            statement = select(Message).order_by(col(Message.created_at))
            for name, value in where.items():
                statement = statement.where(getattr(Message, name) == value)
            return list(session.exec(statement).all())

    def events(self, message: Message) -> list[MessageEvent]:
        with self.session() as session:
            return list(
                session.exec(
                    select(MessageEvent)
                    .where(col(MessageEvent.message_id) == message.id)
                    .order_by(col(MessageEvent.id))
                ).all()
            )


def directory_file(folder: Path, entries: list[dict[str, Any]]) -> Path:
    path = folder / "participants.json"
    path.write_text(json.dumps({"participant": entries}), encoding="utf-8")
    return path


@dataclass
class Pair:
    """Gateway A (Altenburger Land, Greiz) and gateway B (the Landesarchiv), each pointing at the other."""

    a: Node
    b: Node
    tokens: dict[str, str]
    archive_client: Issued  # the archive's own XTA client (its DMS) at B
    greiz_client: Issued  # a member's client certificate, pinned at A for Greiz

    def start(self) -> None:
        self.b.start()
        self.a.start()

    def stop(self) -> None:
        for node in (self.a, self.b):
            node.stop()


def make_pair(
    root: Path,
    *,
    a_extra: dict[str, dict[str, Any]] | None = None,
    archive_url: Callable[[Node], str] | None = None,
) -> Pair:
    """Two configured gateways (not started): directories, signing keys exchanged, TLS pins, tokens.

    ``archive_url`` gives the URL A's directory routes the archive to (default: B's XTA URL), e.g. a
    faulty front of B.
    """
    pki = Pki(root / "pki")
    cache = root / "schema-cache"
    a = Node("A", root / "a", pki, pki.issue("gateway-a"), cache)
    b = Node("B", root / "b", pki, pki.issue("gateway-b"), cache)
    for node in (a, b):
        node.folder.mkdir(parents=True)
    route_to_b = archive_url(b) if archive_url else b.xta_url
    a.configure(peers=[route_to_b], extra=a_extra)
    b.configure(peers=[a.xta_url])
    versions = ["3.0.0", "3.1.0", "4.0.0"]
    district = {"id": DISTRICT, "name": "Landratsamt Altenburger Land", "accepted_versions": versions}
    greiz = {"id": GREIZ, "name": "Landratsamt Greiz", "accepted_versions": versions}
    archive = {"id": ARCHIVE, "name": "Landesarchiv Thüringen", "accepted_versions": versions}
    remote = {"signature_policy": "accept"}  # ZIP packages carry no signature; signed XML is still verified
    a.xgw(
        "participants",
        "import",
        str(
            directory_file(
                a.folder,
                [
                    # A makes the district's technical receipts (a mailbox's own system answers by default)
                    {**district, "signature_policy": "require", "receipts": {"technical": "gateway"}},
                    {**greiz, "signature_policy": "require"},
                    {**archive, **remote, "route": {"kind": "xta", "endpoint_url": route_to_b}},
                ],
            )
        ),
    )
    b.xgw(
        "participants",
        "import",
        str(
            directory_file(
                b.folder,
                [
                    # B makes the archive's technical receipts (a mailbox's own system answers by default)
                    {**archive, "signature_policy": "accept", "receipts": {"technical": "gateway"}},
                    {**district, **remote, "route": {"kind": "xta", "endpoint_url": a.xta_url}},
                ],
            )
        ),
    )
    a.xgw("keys", "create", DISTRICT, "--algorithm", "ec")
    b.xgw("keys", "create", ARCHIVE, "--algorithm", "ec")
    for owner, other, participant in ((a, b, DISTRICT), (b, a, ARCHIVE)):
        exported = owner.folder / f"{participant.replace(':', '-')}-signing.pem"
        exported.write_text(owner.signing_certificate(participant), encoding="ascii")
        other.xgw("keys", "import", participant, str(exported))
    b.pin_tls(DISTRICT, a.identity)  # gateway A's client certificate speaks for the district at B
    a.pin_tls(ARCHIVE, b.identity)  # and B's for the archive at A
    archive_client = pki.issue("archive-dms")
    b.pin_tls(ARCHIVE, archive_client)
    greiz_client = pki.issue("greiz-client")
    a.pin_tls(GREIZ, greiz_client)
    tokens = {"district": a.token(DISTRICT), "archive": b.token(ARCHIVE)}
    return Pair(a, b, tokens, archive_client, greiz_client)


# -- messages ---------------------------------------------------------------------------------------------


def offer(seed: int, documents: int = 2) -> tuple[XdomeaMessage, str, bytes]:
    """A 0501 Anbieteverzeichnis from the district to the archive: model, file name, XML."""
    message = generate_message("3.0.0", "0501", documents=documents, size=0, seed=seed).message
    message = dataclasses.replace(message, kopf=dataclasses.replace(message.kopf, sender=DISTRICT_PARTY))
    built = build(message)
    return message, f"{built.stem}.xml", built.to_bytes()


def submit(node: Node, token: str, name: str, data: bytes) -> dict[str, Any]:
    with node.http(token) as client:
        response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def model_of(data: bytes) -> XdomeaMessage:
    """The xdomea model of fetched content: signed XML (signature removed) or a package's message XML."""
    if data.startswith(b"PK"):
        import io

        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = [n for n in package.namelist() if "/" not in n and n.endswith(".xml")]
            assert len(names) == 1, names
            data = package.read(names[0])
    return parse_message(strip_signature(parse_xml(data, Settings().limits), in_place=True))


def party(xoev_id: str) -> PartyId:
    return PartyId(xoev_id, "xoev")
