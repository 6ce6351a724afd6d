"""Who is calling: the proven identity of the client, before any SOAP is read.

XTA binds an account to a TLS client certificate (mutual TLS). The certificate reaches the application
in one of two ways: the ASGI ``tls`` extension (servers that expose the peer certificate put the PEM
chain there; ``xgw serve --tls-client-ca`` fills it from the verified connection with
:func:`tls_extension`), or a header set by a TLS-terminating reverse proxy -- believed only when the operator named
that header *and* the request really comes from one of the configured proxy addresses, because anyone
else could set it. "Really comes from" means the TCP peer: ``xgw serve`` keeps it in the scope under
:data:`REAL_PEER` before any ``X-Forwarded-For`` is applied, so a local caller that claims to be the
proxy in a forwarded header is still judged by its own address. In development the operator may trust
loopback callers without a certificate; that switch is off by default and never applies to other
addresses.

Whether the identity may act for a given XTA account is the backend's decision (it knows the
participant directory); this module only establishes the identity.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.config import XtaServer
from gateway.transport.xta.errors import ErrorCode, PermissionDenied

IdentitySource = Literal["tls", "proxy", "loopback"]

#: scope key holding the connection's own peer ``(host, port)``, set before forwarded headers rewrite ``client``
REAL_PEER = "xgw.real_peer"

#: ASGI TLS extension: protocol versions as the TLS wire codes
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """A caller whose identity the transport layer vouches for.

    ``certificate_sha256`` is the SHA-256 of the DER client certificate (lower-case hex): the value a
    participant record binds to. It is None only for ``source == "loopback"`` (development mode).
    """

    source: IdentitySource
    peer: str | None
    certificate_sha256: str | None = None
    subject: str | None = None

    @property
    def trusted_without_certificate(self) -> bool:
        return self.source == "loopback"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_trusted_proxy(host: str, proxies: list[str]) -> bool:
    """``host`` is one of the configured proxy addresses or inside one of its networks (CIDR)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host in proxies
    for entry in proxies:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _real_peer(scope: dict[str, Any]) -> str | None:
    client = scope[REAL_PEER] if REAL_PEER in scope else scope.get("client")
    return str(client[0]) if client else None


@dataclass(frozen=True, slots=True)
class _Parsed:
    """What a request needs from a client certificate: read once per distinct certificate."""

    not_before: datetime
    not_after: datetime
    sha256: str
    subject: str


#: distinct client certificates whose parse is kept (a peer gateway keeps presenting the same one)
PARSED_CERTIFICATES = 256


@lru_cache(maxsize=PARSED_CERTIFICATES)
def _parse(pem: str) -> _Parsed:
    """The certificate's validity, fingerprint and subject; keyed by the exact PEM text (content-addressed,
    so never stale). Unreadable certificates raise and are not kept."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    der = cert.public_bytes(serialization.Encoding.DER)
    fingerprint = hashlib.sha256(der).hexdigest()
    return _Parsed(cert.not_valid_before_utc, cert.not_valid_after_utc, fingerprint, cert.subject.rfc4514_string())


def _from_pem(pem: str, source: IdentitySource, peer: str | None, now: datetime) -> CallerIdentity:
    try:
        cert = _parse(pem)
    except (ValueError, UnicodeEncodeError):
        raise PermissionDenied(ErrorCode.IDENTITY_MISMATCH, "the client certificate cannot be read") from None
    if not cert.not_before <= now <= cert.not_after:
        raise PermissionDenied(ErrorCode.CERTIFICATE_EXPIRED, f"certificate valid until {cert.not_after}")
    return CallerIdentity(source=source, peer=peer, certificate_sha256=cert.sha256, subject=cert.subject)


def identify(
    scope: dict[str, Any], headers: dict[str, str], config: XtaServer, now: datetime | None = None
) -> CallerIdentity:
    """The caller of this request, or :class:`PermissionDenied` (9014) when nothing proves who it is.

    ``headers`` must have lower-case names. Order: the TLS extension, then a proxy header from a trusted
    proxy, then (development only) loopback.
    """
    moment = now or datetime.now(UTC)
    peer = _real_peer(scope)
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if chain:
        return _from_pem(str(chain[0]), "tls", peer, moment)
    if config.client_cert_header and peer is not None and _is_trusted_proxy(peer, config.trusted_proxies):
        value = headers.get(config.client_cert_header.lower())
        if value:
            return _from_pem(unquote(value), "proxy", peer, moment)
    if config.dev_trust_loopback and _is_loopback(peer):
        return CallerIdentity(source="loopback", peer=peer)
    raise PermissionDenied(ErrorCode.IDENTITY_MISMATCH, "no client certificate was presented")


def certificate_sha256(pem: str) -> str:
    """The fingerprint :class:`CallerIdentity` carries for this certificate (for participant records)."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """The ASGI ``tls`` extension of one connection (asgiref specs/tls.rst, version 0.2).

    Called once the handshake is done. The client certificate is only there when the server asked for
    one and the handshake verified it against the configured CA, so what lands in
    ``client_cert_chain`` is already proven; Python exposes the leaf only, which is what the account
    binding pins. The cipher suite has no numeric id in :mod:`ssl`, hence None (allowed by the spec).
    """
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = None
    if der:
        cert = x509.load_der_x509_certificate(der)
        name = cert.subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }
