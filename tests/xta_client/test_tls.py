"""Mutual TLS: our own CA and certificates (trustme), uvicorn requiring client certificates."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from gateway.config import Settings, XtaPeer
from gateway.transport.xta.memory import Account, MemoryBackend
from gateway.transport.xta_client.client import XtaClient
from gateway.transport.xta_client.errors import ConnectionFailed, TlsRefused
from gateway.transport.xta_client.peer import PeerNotConfigured, make_peer, resolve_peer
from tests.xta.support import make_app

from .support import AUTHOR, READER, content, meta, serve_on


class Pki:
    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.folder = folder
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1")
        self.ca_file = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.other_ca_file = self._write("other-ca.pem", self.other_ca.cert_pem.bytes())
        self.server_cert = self._write("server.pem", b"".join(b.bytes() for b in self.server.cert_chain_pems))
        self.server_key = self._write("server.key", self.server.private_key_pem.bytes())

    def _write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def client_cert(self, name: str, ca: trustme.CA) -> tuple[Path, Path]:
        issued = ca.issue_cert(f"{name}.example")
        cert = self._write(f"{name}.pem", b"".join(b.bytes() for b in issued.cert_chain_pems))
        key = self._write(f"{name}.key", issued.private_key_pem.bytes())
        return cert, key


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def tls_url(pki: Pki, settings: Settings, tmp_path: Path) -> Iterator[tuple[str, MemoryBackend]]:
    backend = MemoryBackend(tmp_path / "content", [Account(AUTHOR), Account(READER)])
    options = {
        "ssl_certfile": str(pki.server_cert),
        "ssl_keyfile": str(pki.server_key),
        "ssl_ca_certs": str(pki.ca_file),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }
    with serve_on(make_app(backend, settings), **options) as url:
        yield url, backend


def _client(url: str, settings: Settings, **peer: object) -> XtaClient:
    return XtaClient(make_peer(url, **peer), settings, sleep=lambda s: None)  # type: ignore[arg-type]


def test_mutual_tls_send_and_fetch(
    pki: Pki, tls_url: tuple[str, MemoryBackend], settings: Settings, tmp_path: Path
) -> None:
    url, backend = tls_url
    cert, key = pki.client_cert("altenburg", pki.ca)
    config = settings.xta_client.model_copy(
        update={"client_cert": cert, "client_key": key, "peers": [XtaPeer(url=url + "/", ca_bundle=pki.ca_file)]}
    )
    peer = resolve_peer(config, url)
    assert peer.verify == str(pki.ca_file) and peer.client_cert == (str(cert), str(key))
    with XtaClient(peer, settings, sleep=lambda s: None) as client:
        outcome = client.send(meta(), content(tmp_path / "m.xml", b"<m/>"))
        with client.get_message(READER, outcome.message_id) as fetched:
            assert fetched.message.message.path.read_bytes() == b"<m/>"
    assert backend.message(outcome.message_id)[0].author == AUTHOR


def test_a_client_without_certificate_is_refused(
    pki: Pki, tls_url: tuple[str, MemoryBackend], settings: Settings
) -> None:
    url, backend = tls_url
    with _client(url, settings, ca_bundle=pki.ca_file) as client, pytest.raises((TlsRefused, ConnectionFailed)):
        client.create_message_id(AUTHOR)
    assert backend._reserved == {}  # nothing reached the application


def test_a_client_certificate_from_another_ca_is_refused(
    pki: Pki, tls_url: tuple[str, MemoryBackend], settings: Settings
) -> None:
    url, backend = tls_url
    cert, key = pki.client_cert("intruder", pki.other_ca)
    with (
        _client(url, settings, ca_bundle=pki.ca_file, client_cert=cert, client_key=key) as client,
        pytest.raises((TlsRefused, ConnectionFailed)),
    ):
        client.create_message_id(AUTHOR)
    assert backend._reserved == {}


def test_a_server_not_signed_by_the_pinned_ca_is_refused_permanently(
    pki: Pki, tls_url: tuple[str, MemoryBackend], settings: Settings
) -> None:
    url, _ = tls_url
    cert, key = pki.client_cert("altenburg", pki.ca)
    errors: list[object] = []
    client = XtaClient(
        make_peer(url, ca_bundle=pki.other_ca_file, client_cert=cert, client_key=key),
        settings,
        sleep=lambda s: None,
        on_retry=lambda e, n: errors.append(e),
    )
    with client, pytest.raises(TlsRefused) as caught:
        client.check_account_active(AUTHOR)
    assert not caught.value.retryable and errors == []
    assert "certificate verify failed" in str(caught.value).lower()


def test_https_without_a_pinned_ca_is_not_configured(settings: Settings) -> None:
    with pytest.raises(PeerNotConfigured, match="ca_bundle"):
        resolve_peer(settings.xta_client, "https://xta.example.de/services/XTAService")
    with pytest.raises(PeerNotConfigured, match="no CA is pinned"):
        make_peer("https://xta.example.de/services/XTAService")
    assert make_peer("https://xta.example.de/x", use_system_ca=True).verify is True
