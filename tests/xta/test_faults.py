"""Every fault path over real HTTP: a SOAP 1.2 Fault, the XTA exception and its error code.

The status follows the SOAP 1.2 HTTP binding: 400 for an ``env:Sender`` fault, 500 for ``env:Receiver``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.api.middleware import BodyGuard
from gateway.transport.xta.backend import MsgBoxSelection, PartyId
from gateway.transport.xta.identity import certificate_sha256
from gateway.transport.xta.memory import Account, MemoryBackend
from gateway.transport.xta.ns import SOAP12, WSA, XTA
from gateway.transport.xta.schemas import XtaSchemas

from . import cxf
from .conftest import xta_settings
from .support import (
    ACTIONS,
    AUTHOR,
    PORT_OF,
    READER,
    STRANGER,
    RunningServer,
    author_header,
    check_reply,
    envelope,
    make_app,
    meta_xml,
    serve,
)
from .test_cxf_client import container_xml, send_mtom

MSGBOX = "http://www.osci.eu/ws/2008/05/transport"


def plain(
    server: RunningServer, operation: str, headers: str = "", body: str = "", *, raw: bytes | None = None, **http: str
) -> httpx.Response:
    url = server.port_url(PORT_OF[operation])
    data = raw if raw is not None else envelope(ACTIONS[operation], url, headers, body)
    return httpx.post(
        url, content=data, headers={"Content-Type": "application/soap+xml; charset=utf-8", **http}, timeout=30
    )


def assert_fault(
    response: httpx.Response, schemas: XtaSchemas, element: str, code: str, *, action: str | None = None
) -> etree._Element:
    expected_value = "env:Receiver" if element == "XTAWSTechnicalProblemException" else "env:Sender"
    assert response.status_code == (500 if expected_value == "env:Receiver" else 400), response.text
    assert response.headers["content-type"].startswith("application/soap+xml")
    root = check_reply(schemas, response.content)
    fault = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault is not None
    detail = fault.find(f"{{{SOAP12}}}Detail")
    assert detail is not None and detail[0].tag == f"{{{XTA}}}{element}"
    assert detail[0].findtext(f"{{{XTA}}}errorCode/code") == code
    assert code in (fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") or "")
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == expected_value
    if action is not None:
        assert root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}Action") == action
    return root


@contextmanager
def running(tmp_path: Path, backend: MemoryBackend, **config: object) -> Iterator[RunningServer]:
    settings = xta_settings(tmp_path, **config)
    with serve(make_app(backend, settings)) as url:
        yield RunningServer(url, backend, settings)


def fetch_body(message_id: str) -> str:
    return (
        f'<osci:MsgBoxFetchRequest xmlns:osci="{MSGBOX}"><osci:MsgSelector>'
        f'<wsa:MessageID xmlns:wsa="{WSA}">{message_id}</wsa:MessageID></osci:MsgSelector></osci:MsgBoxFetchRequest>'
    )


def id_body(message_id: str) -> str:
    return f'<wsa:MessageID xmlns:wsa="{WSA}">{message_id}</wsa:MessageID>'


# -- accounts and permissions ---------------------------------------------------------------------------


def test_unknown_account(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    response = plain(server, "checkAccountActive", author_header(STRANGER))
    assert_fault(response, xta_schemas, "PermissionDeniedException", "9012", action=ACTIONS["checkAccountActive"])


def test_locked_account(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    server.backend.add_account(Account(STRANGER, locked=True))
    response = plain(server, "createMessageId", author_header(STRANGER))
    assert_fault(response, xta_schemas, "PermissionDeniedException", "9011")


def test_missing_author_header(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    response = plain(server, "checkAccountActive")
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9020")


def test_send_for_an_unknown_author(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    response = send_mtom_as(server, "urn:test:x", STRANGER)
    assert_fault(response, xta_schemas, "PermissionDeniedException", "9012", action=ACTIONS["sendMessage"])


def send_mtom_as(server: RunningServer, message_id: str, author: PartyId) -> httpx.Response:
    part = cxf.Part(cxf.new_cid(), b"<x/>")
    url = server.port_url("SendXtaPort")
    soap = envelope(
        ACTIONS["sendMessage"],
        url,
        meta_xml(message_id, author=author),
        container_xml([("Message", part.content_id, "m.xml")]),
    )
    return cxf.post(url, cxf.frame(ACTIONS["sendMessage"], soap, [part]))


# -- message ids ----------------------------------------------------------------------------------------


def test_message_id_already_used(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    assert send_mtom(server, "urn:test:dup", [b"one"]).status_code == 200
    response = send_mtom(server, "urn:test:dup", [b"two"])
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9024", action=ACTIONS["sendMessage"])
    _, message, _ = server.backend.message("urn:test:dup")
    assert message.path.read_bytes() == b"one"


def test_transport_report_only_for_own_messages(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    assert send_mtom(server, "urn:test:own", [b"x"]).status_code == 200
    unknown = plain(server, "getTransportReport", author_header(), id_body("urn:test:nothing"))
    assert_fault(unknown, xta_schemas, "InvalidMessageIDException", "9070")
    foreign = plain(server, "getTransportReport", author_header(READER), id_body("urn:test:own"))
    assert_fault(foreign, xta_schemas, "InvalidMessageIDException", "9070")


def test_reader_sees_and_closes_only_own_messages(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    assert send_mtom(server, "urn:test:for-reader", [b"x"]).status_code == 200
    fetched = plain(server, "getMessage", author_header(AUTHOR), fetch_body("urn:test:for-reader"))
    assert_fault(fetched, xta_schemas, "InvalidMessageIDException", "9070", action=ACTIONS["getMessage"])
    close_body = (
        f'<osci:MsgBoxCloseRequest xmlns:osci="{MSGBOX}" MsgBoxRequestID="urn:uuid:any">'
        "<osci:LastMsgReceived>urn:test:for-reader</osci:LastMsgReceived></osci:MsgBoxCloseRequest>"
    )
    closed = plain(server, "close", author_header(AUTHOR), close_body)
    assert_fault(closed, xta_schemas, "InvalidMessageIDException", "9070")
    page = server.backend.status_list(READER, MsgBoxSelection(), None)
    assert [m.message_id for m in page.items] == ["urn:test:for-reader"]  # still open for its reader


def test_get_next_message_when_none_is_left(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    body = f'<osci:MsgBoxGetNextRequest xmlns:osci="{MSGBOX}" MsgBoxRequestID="urn:uuid:unknown"/>'
    response = plain(server, "getNextMessage", author_header(READER), body)
    assert_fault(response, xta_schemas, "InvalidMessageIDException", "9070")


@pytest.mark.parametrize(("not_before", "code"), [(None, "9101"), ("2001-01-01T00:00:00Z", "9100")])
def test_cancel_denied(server: RunningServer, xta_schemas: XtaSchemas, not_before: str | None, code: str) -> None:
    url = server.port_url("SendXtaPort")
    part = cxf.Part(cxf.new_cid(), b"x")
    soap = envelope(
        ACTIONS["sendMessage"],
        url,
        meta_xml("urn:test:c", not_before=not_before),
        container_xml([("Message", part.content_id, "m")]),
    )
    assert cxf.post(url, cxf.frame(ACTIONS["sendMessage"], soap, [part])).status_code == 200
    response = plain(server, "cancelMessage", author_header(), id_body("urn:test:c"))
    assert_fault(response, xta_schemas, "CancelDeniedException", code, action=ACTIONS["cancelMessage"])


# -- malformed requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"<not-closed",
        b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
        b"",
    ],
    ids=["broken", "doctype", "soap11", "empty"],
)
def test_unreadable_envelopes(server: RunningServer, xta_schemas: XtaSchemas, raw: bytes) -> None:
    response = plain(server, "checkAccountActive", raw=raw, SOAPAction=ACTIONS["checkAccountActive"])
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9022")


def test_action_of_another_port(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    url = server.port_url("MsgBoxPort")
    data = envelope(ACTIONS["checkAccountActive"], url, author_header(), "")
    response = httpx.post(url, content=data, headers={"Content-Type": "application/soap+xml"})
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9021")


def test_unknown_action_and_port(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    url = server.port_url("ManagementPort")
    data = envelope("urn:no-such-action", url, author_header(), "")
    response = httpx.post(url, content=data, headers={"Content-Type": "application/soap+xml"})
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9021")
    response = httpx.post(server.port_url("NoPort"), content=data, headers={"Content-Type": "application/soap+xml"})
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9021")


def test_conflicting_actions(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    response = plain(server, "checkAccountActive", author_header(), SOAPAction=ACTIONS["createMessageId"])
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9022")


def test_non_anonymous_reply_to(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    url = server.port_url("ManagementPort")
    data = envelope(ACTIONS["checkAccountActive"], url, author_header(), "").replace(
        f"{WSA}/anonymous".encode(), b"http://elsewhere.example/reply"
    )
    response = httpx.post(url, content=data, headers={"Content-Type": "application/soap+xml"})
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9022")


def test_must_understand_unknown_header(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    extra = f'<x:Secret xmlns:x="urn:x" xmlns:soap="{SOAP12}" soap:mustUnderstand="true"/>'
    response = plain(server, "checkAccountActive", author_header() + extra)
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9022")


def test_schema_invalid_metadata(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    meta = meta_xml("urn:test:bad").replace("<oscimeta:Service>", "<oscimeta:Service><bogus/>", 1)
    part = cxf.Part(cxf.new_cid(), b"x")
    url = server.port_url("SendXtaPort")
    soap = envelope(ACTIONS["sendMessage"], url, meta, container_xml([("Message", part.content_id, "m")]))
    response = cxf.post(url, cxf.frame(ACTIONS["sendMessage"], soap, [part]))
    root = assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9022")
    assert "Service" in (root.findtext(f".//{{{SOAP12}}}Text") or "")


def test_xop_include_without_part(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    url = server.port_url("SendXtaPort")
    soap = envelope(ACTIONS["sendMessage"], url, meta_xml("urn:test:x"), container_xml([("Message", "missing@x", "m")]))
    response = cxf.post(url, cxf.frame(ACTIONS["sendMessage"], soap))
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9022")


def test_truncated_multipart(server: RunningServer, xta_schemas: XtaSchemas) -> None:
    part = cxf.Part(cxf.new_cid(), b"content")
    url = server.port_url("SendXtaPort")
    soap = envelope(
        ACTIONS["sendMessage"], url, meta_xml("urn:test:t"), container_xml([("Message", part.content_id, "m")])
    )
    framed = cxf.frame(ACTIONS["sendMessage"], soap, [part])
    body = framed.body()[:-20]
    headers = {**framed.headers, "Content-Length": str(len(body))}
    response = httpx.post(url, content=body, headers=headers)
    assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9022")


def test_size_limits(tmp_path: Path, memory_backend: MemoryBackend, xta_schemas: XtaSchemas) -> None:
    with running(tmp_path, memory_backend, max_envelope_bytes=4096, max_request_bytes=200_000) as server:
        big_envelope = plain(server, "checkAccountActive", author_header() + "<!--" + "x" * 5000 + "-->")
        assert_fault(big_envelope, xta_schemas, "ParameterIsNotValidException", "9023")
        response = send_mtom(server, "urn:test:big", [b"x" * 300_000])
        assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9023")
        assert list((tmp_path / "spool").iterdir()) == []  # nothing left behind


def test_sender_fault_status_for_cxf_clients(
    tmp_path: Path, memory_backend: MemoryBackend, xta_schemas: XtaSchemas
) -> None:
    """CXF clients without process_fault_on_http_400 read a fault only at 500: the setting serves them."""
    with running(tmp_path, memory_backend, sender_fault_status=500) as server:
        assert server.settings.xta_server.sender_fault_status == 500
        response = plain(server, "checkAccountActive")
        assert response.status_code == 500
        fault = check_reply(xta_schemas, response.content).find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
        assert fault is not None and fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "env:Sender"


def test_internal_error_is_a_technical_problem(tmp_path: Path, xta_schemas: XtaSchemas) -> None:
    class Broken(MemoryBackend):
        def create_message_id(self, author: PartyId) -> str:
            raise RuntimeError("database is down")

    backend = Broken(tmp_path / "c", [Account(AUTHOR)])
    with running(tmp_path, backend) as server:
        response = plain(server, "createMessageId", author_header())
        root = assert_fault(response, xta_schemas, "XTAWSTechnicalProblemException", "9030")
        assert "database" not in response.text  # internals stay in the log
        assert root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}Action") == ACTIONS["createMessageId"]


# -- identity -------------------------------------------------------------------------------------------


def certificate(name: str, *, days: int = 30, expired: bool = False) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=60) if expired else now - dt.timedelta(minutes=5)
    end = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_no_certificate_without_development_mode(
    tmp_path: Path, memory_backend: MemoryBackend, xta_schemas: XtaSchemas
) -> None:
    with running(tmp_path, memory_backend, dev_trust_loopback=False) as server:
        response = plain(server, "checkAccountActive", author_header())
        assert_fault(response, xta_schemas, "PermissionDeniedException", "9014")


def test_certificate_from_trusted_proxy(tmp_path: Path, xta_schemas: XtaSchemas) -> None:
    own, other, old = certificate("Altenburger Land"), certificate("Someone else"), certificate("old", expired=True)
    backend = MemoryBackend(tmp_path / "c", [Account(AUTHOR, certificates=frozenset({certificate_sha256(own)}))])
    header = "X-SSL-Client-Cert"
    config = {"dev_trust_loopback": False, "client_cert_header": header, "trusted_proxies": ["127.0.0.1"]}
    with running(tmp_path, backend, **config) as server:
        ok = plain(server, "checkAccountActive", author_header(), **{header: quote(own)})
        assert ok.status_code == 200, ok.text
        check_reply(xta_schemas, ok.content)
        wrong = plain(server, "checkAccountActive", author_header(), **{header: quote(other)})
        assert_fault(wrong, xta_schemas, "PermissionDeniedException", "9014")
        expired = plain(server, "checkAccountActive", author_header(), **{header: quote(old)})
        assert_fault(expired, xta_schemas, "PermissionDeniedException", "9010")
        garbage = plain(server, "checkAccountActive", author_header(), **{header: "not a certificate"})
        assert_fault(garbage, xta_schemas, "PermissionDeniedException", "9014")
    untrusting = {"dev_trust_loopback": False, "client_cert_header": header, "trusted_proxies": ["10.0.0.1"]}
    with running(tmp_path, backend, **untrusting) as server:
        spoofed = plain(server, "checkAccountActive", author_header(), **{header: quote(own)})
        assert_fault(spoofed, xta_schemas, "PermissionDeniedException", "9014")


def test_an_attachment_is_spooled_only_up_to_the_submit_limit(
    tmp_path: Path, memory_backend: MemoryBackend, xta_schemas: XtaSchemas
) -> None:
    """Issue 10, item 9: an MTOM attachment larger than pipeline.max_submit_bytes is refused while it
    streams in (9023), not spooled up to max_request_bytes first; the spool never holds much more."""
    limit = 256 * 1024
    base = xta_settings(tmp_path)
    settings = base.model_copy(update={"pipeline": base.pipeline.model_copy(update={"max_submit_bytes": limit})})
    spool_root = tmp_path / "spool"
    with serve(make_app(memory_backend, settings)) as address:
        url = RunningServer(address, memory_backend, settings).port_url("SendXtaPort")
        part = cxf.Part(cxf.new_cid(), b"x" * (8 * 1024 * 1024))
        soap = envelope(
            ACTIONS["sendMessage"], url, meta_xml("urn:test:big"), container_xml([("Message", part.content_id, "m")])
        )
        framed = cxf.frame(ACTIONS["sendMessage"], soap, [part])
        body = framed.body()
        largest = [0]

        def spooled() -> int:
            """The largest spool file now; the server removes its folders as it goes, so a walk may race it."""
            sizes = [0]
            for folder, _, names in os.walk(spool_root):
                for name in names:
                    if name.endswith(".part"):
                        with suppress(FileNotFoundError):
                            sizes.append(os.stat(os.path.join(folder, name)).st_size)
            return max(sizes)

        def trickle() -> Iterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                largest[0] = max(largest[0], spooled())
                yield body[start : start + 64 * 1024]

        try:
            response = httpx.post(url, content=trickle(), headers=framed.headers, timeout=60)
        except httpx.TransportError:  # the server may close the connection after its early answer
            response = None
        if response is not None:
            assert_fault(response, xta_schemas, "ParameterIsNotValidException", "9023")
        assert largest[0] <= limit
    assert list(spool_root.iterdir()) == []


def test_a_stalled_body_is_a_408_fault_and_leaves_nothing(
    tmp_path: Path, memory_backend: MemoryBackend, xta_schemas: XtaSchemas
) -> None:
    """A client that stops sending its body half-way gets a SOAP fault with 408 and ``Connection: close``
    once the server's body guard gives up (not a 9030 internal error), and its spooled part is removed."""
    settings = xta_settings(tmp_path)
    spool_root = tmp_path / "spool"
    guarded = BodyGuard(make_app(memory_backend, settings), idle=0.3, min_rate=1)
    with serve(guarded) as address:
        url = RunningServer(address, memory_backend, settings).port_url("SendXtaPort")
        part = cxf.Part(cxf.new_cid(), b"x" * (600 * 1024))  # more than one feed batch: a spool file exists
        soap = envelope(
            ACTIONS["sendMessage"], url, meta_xml("urn:test:stall"), container_xml([("Message", part.content_id, "m")])
        )
        framed = cxf.frame(ACTIONS["sendMessage"], soap, [part])
        body = framed.body()
        parsed = urlsplit(url)
        head = f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in framed.headers.items()
        )
        with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
            sock.sendall(head.encode("latin-1") + b"\r\n" + body[: len(body) - 1000])  # then nothing more
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert status_line.split()[1] == b"408", answer[:500]
    assert b"connection: close" in headers.lower()
    root = check_reply(xta_schemas, payload)
    fault = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault is not None
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "env:Sender"
    detail = fault.find(f"{{{SOAP12}}}Detail")
    assert detail is not None and detail[0].tag == f"{{{XTA}}}ParameterIsNotValidException"
    assert detail[0].findtext(f"{{{XTA}}}errorCode/code") == "9000"
    reason = fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") or ""
    assert "did not arrive" in reason and "no bytes of the request body for 0.3 s" in reason, reason
    with pytest.raises(KeyError):  # nothing reached the backend
        memory_backend.message("urn:test:stall")
    assert list(spool_root.iterdir()) == []
