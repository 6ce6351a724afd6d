"""The caller's identity (issue 11): each distinct client certificate is parsed once, and judged every time.

A peer gateway presents the same certificate on every request; parsing it (and hashing its DER) per request
was a measurable share of a small sendMessage. The parse is kept per PEM text, the validity is checked
against the clock on every call, an unreadable certificate is never kept, and the dependency runs on the
event loop (no thread-pool hop per request). Whether a fingerprint is still pinned is the directory's
matter: tests/xta_pipeline/test_accounts.py shows that a removed or replaced pin stops being trusted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.config import XtaServer
from gateway.transport.xta import identity
from gateway.transport.xta.errors import PermissionDenied
from gateway.transport.xta.identity import certificate_sha256, identify
from gateway.transport.xta.server import caller_dependency

NOW = dt.datetime.now(dt.UTC)


def pem(name: str, *, days: int = 30) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def scope(chain: list[str]) -> dict[str, object]:
    return {"type": "http", "client": ("10.1.2.3", 4433), "extensions": {"tls": {"client_cert_chain": chain}}}


CONFIG = XtaServer()


def test_a_certificate_is_parsed_once_and_its_validity_checked_on_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = pem("Landratsamt Gotha", days=10)
    fingerprint = certificate_sha256(own)
    loads: list[bytes] = []
    real = x509.load_pem_x509_certificate

    def counted(data: bytes, *args: object) -> x509.Certificate:
        loads.append(data)
        return real(data)

    monkeypatch.setattr(x509, "load_pem_x509_certificate", counted)
    first = identify(scope([own]), {}, CONFIG, now=NOW)
    second = identify(scope([own]), {}, CONFIG, now=NOW + dt.timedelta(days=1))
    assert first == second
    assert first.certificate_sha256 == fingerprint
    assert first.subject == "CN=Landratsamt Gotha"
    assert len([d for d in loads if d == own.encode()]) == 1  # the second call used the kept parse

    # kept, but still judged against the clock: past its end it is refused
    with pytest.raises(PermissionDenied) as caught:
        identify(scope([own]), {}, CONFIG, now=NOW + dt.timedelta(days=11))
    assert caught.value.code.code == "9010"

    # an unreadable certificate is refused every time and never kept
    for _ in range(2):
        with pytest.raises(PermissionDenied) as caught:
            identify(scope(["-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n"]), {}, CONFIG)
        assert caught.value.code.code == "9014"
    assert identity._parse.cache_info().maxsize == identity.PARSED_CERTIFICATES


def test_the_parse_cache_is_bounded() -> None:
    identity._parse.cache_clear()
    many = [pem(f"caller {n}", days=1) for n in range(identity.PARSED_CERTIFICATES + 5)]
    for each in many:
        identify(scope([each]), {}, CONFIG, now=NOW)
    assert identity._parse.cache_info().currsize == identity.PARSED_CERTIFICATES


def test_the_caller_dependency_runs_on_the_event_loop() -> None:
    """A sync dependency would be sent to the thread pool by FastAPI: one more thread hop per request."""
    caller = caller_dependency(CONFIG)
    assert inspect.iscoroutinefunction(caller)

    class FakeRequest:
        def __init__(self) -> None:
            self.headers = {"X-Other": "1"}
            self.scope = scope([pem("Peer gateway")])

    found = asyncio.run(caller(FakeRequest()))  # type: ignore[arg-type]
    assert not isinstance(found, PermissionDenied) and found.source == "tls"
