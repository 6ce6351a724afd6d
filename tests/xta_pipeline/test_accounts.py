"""Accounts: a PartyIdentifier names a participant, and only a certificate pinned for it may act for it.

The server sits behind a TLS-terminating proxy here (the certificate arrives in the configured header
from a trusted proxy address), which is how the identity reaches the backend without a TLS stack in the
test; loopback trust is off.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa
import zeep
from cryptography import x509
from lxml import etree
from sqlmodel import col, delete, update
from zeep.exceptions import Fault

from gateway.config import Settings
from gateway.store.models import Certificate, CertificateUsage
from gateway.store.types import utcnow
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    certificate_pem,
    generate_key,
    self_signed_certificate,
    subject_name,
)
from gateway.xoev.signatures.signature import certificate_fingerprint
from tests.xta_pipeline.support import ARCHIVE, GOTHA, PEER_A, PEER_B, Gateway, author, fault_of, running_gateway

HEADER = "X-Client-Cert"


def certificate(name: str) -> x509.Certificate:
    return self_signed_certificate(generate_key(KeyAlgorithm.EC), subject_name(name), days=30)


def pin(gateway: Gateway, xoev_id: str, cert: x509.Certificate, *, retired: bool = False) -> None:
    now = utcnow()
    with gateway.ctx.session() as session:
        session.add(
            Certificate(
                participant_id=gateway.participant(xoev_id).id,
                pem=certificate_pem([cert]),
                fingerprint_sha256=certificate_fingerprint(cert),
                not_before=cert.not_valid_before_utc,
                not_after=now - timedelta(days=1) if retired else cert.not_valid_after_utc,
                usage=CertificateUsage.TLS,
            )
        )
        session.commit()


def management(gateway: Gateway, cert: x509.Certificate | None) -> zeep.proxy.ServiceProxy:
    session = requests.Session()
    if cert is not None:
        session.headers[HEADER] = quote(certificate_pem([cert]))
    client = zeep.Client(gateway.port_url("ManagementPort") + "?wsdl", transport=zeep.Transport(session=session))
    return client.bind("XTAService", "ManagementPort")


def refusal(port: zeep.proxy.ServiceProxy, account: str) -> tuple[str, str]:
    with pytest.raises(Fault) as caught:
        port.checkAccountActive(_soapheaders=author(account))
    return fault_of(caught.value)


@pytest.fixture
def behind_proxy(database_url: str, tmp_path: Path, settings: Settings, registry: SchemaRegistry) -> Iterator[Gateway]:
    with running_gateway(
        database_url,
        tmp_path,
        settings,
        registry,
        dev_trust_loopback=False,
        client_cert_header=HEADER,
        trusted_proxies=["127.0.0.1"],
    ) as gateway:
        yield gateway


def test_certificates_bind_accounts(behind_proxy: Gateway) -> None:
    gateway = behind_proxy
    gotha, peer, retired, stray = (certificate(n) for n in ("Gotha", "Peer gateway", "Retired", "Stray"))
    pin(gateway, GOTHA, gotha)
    pin(gateway, PEER_A, peer)
    pin(gateway, ARCHIVE, retired, retired=True)

    as_gotha = management(gateway, gotha)
    assert as_gotha.checkAccountActive(_soapheaders=author(GOTHA)) is None
    # the same account named by prefix (type) and Kennung (value)
    bare = '<oscimeta:Author xmlns:oscimeta="http://www.osci.eu/ws/2014/10/transport">'
    bare += '<oscimeta:Identifier type="psw">16067000</oscimeta:Identifier></oscimeta:Author>'
    assert as_gotha.checkAccountActive(_soapheaders=[etree.fromstring(bare)]) is None

    assert refusal(as_gotha, ARCHIVE) == ("PermissionDeniedException", "9014")  # not Gotha's account
    assert refusal(as_gotha, "psw:99999999") == ("PermissionDeniedException", "9012")  # no such account
    assert refusal(management(gateway, None), GOTHA) == ("PermissionDeniedException", "9014")  # no certificate
    assert refusal(management(gateway, stray), GOTHA) == ("PermissionDeniedException", "9014")  # pinned nowhere
    assert refusal(management(gateway, retired), ARCHIVE) == ("PermissionDeniedException", "9010")  # pin retired

    # a peer gateway's certificate speaks for every participant routed to that gateway, and only for them
    as_peer = management(gateway, peer)
    assert as_peer.checkAccountActive(_soapheaders=author(PEER_A)) is None
    assert as_peer.checkAccountActive(_soapheaders=author(PEER_B)) is None
    assert refusal(as_peer, GOTHA) == ("PermissionDeniedException", "9014")

    # the identity is checked for every operation, the MessageID ledger included
    with pytest.raises(Fault) as caught:
        as_gotha.createMessageId(_soapheaders=author(ARCHIVE))
    assert fault_of(caught.value) == ("PermissionDeniedException", "9014")
    assert gateway.trace()[2] == 0


def test_a_removed_or_replaced_pin_is_no_longer_trusted(behind_proxy: Gateway) -> None:
    """Issue 11: the certificate -> account check reads the directory's cache, and every change to the pins
    drops it, so the next request is judged by the new pins; while nothing changes, it costs no query."""
    gateway = behind_proxy
    old, new = certificate("Gotha 2025"), certificate("Gotha 2026")
    pin(gateway, GOTHA, old)
    as_old, as_new = management(gateway, old), management(gateway, new)
    assert as_old.checkAccountActive(_soapheaders=author(GOTHA)) is None

    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sa.event.listen(gateway.ctx.engine, "before_cursor_execute", seen)
    try:
        assert as_old.checkAccountActive(_soapheaders=author(GOTHA)) is None
    finally:
        sa.event.remove(gateway.ctx.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "certificate" in s or "participant" in s], statements

    # replaced: the new certificate is pinned and the old one removed
    pin(gateway, GOTHA, new)
    with gateway.ctx.session() as session:
        session.exec(delete(Certificate).where(col(Certificate.fingerprint_sha256) == certificate_fingerprint(old)))
        session.commit()
    assert refusal(as_old, GOTHA) == ("PermissionDeniedException", "9014")
    assert as_new.checkAccountActive(_soapheaders=author(GOTHA)) is None

    # re-dated (retired now) and then removed
    with gateway.ctx.session() as session:
        session.exec(
            update(Certificate)
            .where(col(Certificate.fingerprint_sha256) == certificate_fingerprint(new))
            .values(not_after=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    assert refusal(as_new, GOTHA) == ("PermissionDeniedException", "9010")
    with gateway.ctx.session() as session:
        session.exec(delete(Certificate))
        session.commit()
    assert refusal(as_new, GOTHA) == ("PermissionDeniedException", "9014")
