"""Submitting through real HTTP: samples and generated messages round-trip byte-identical; every refusal is
a problem document that leaves no row, no event and no payload file behind."""

from __future__ import annotations

import hashlib
import select
import socket
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select as sqlselect

from gateway.participants.tokens import Scope
from gateway.store.models import Participant
from tests.api.support import (
    ALTENBURG,
    ALTENBURG_PARTY,
    ARCHIVE,
    GOTHA,
    MAX_SUBMIT,
    SAMPLE_SENDER,
    SAMPLES,
    Gateway,
    assert_problem,
    offer,
    package,
    zip_bytes,
)

# Expected answer per sample: (submitted under its own file name, submitted without a name).
# 201 new, 200 the same message again, 409 same identity with other content, 422 invalid (rule ids).
# An Absender without Behördenkennung is identified by the token (a warning, XGW-HDR-007); an Empfaenger
# without one cannot be routed: UNROUTABLE (before issue 9 both were refused as 403 sender_not_identified).
# The toolkit templates all carry ProzessID 242f44e8-...: the 3.0.0 0501 collides with the 2.3.0 0501.
UNROUTABLE = (422, {"unknown-recipient"})
SAMPLE_OUTCOMES: dict[str, tuple[tuple[int, set[str]], tuple[int, set[str]]]] = {
    "2.3.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml": ((422, {"XGW-NAME-001"}), (201, set())),
    "2.3.0/xx_Aussonderung.Bewertungsverzeichnis.0502.xml": (
        (422, {"XGW-HDR-001", "XGW-NAME-001"}),
        (422, {"XGW-HDR-001"}),
    ),
    "2.4.0/xx_Aussonderung.AnbietungEmpfangBestaetigen.0504.xml": (
        (422, {"XGW-HDR-001", "XGW-NAME-001"}),
        (422, {"XGW-HDR-001"}),
    ),
    "2.4.0/xx_Aussonderung.Aussonderung.0503.xml": ((422, {"XGW-NAME-001"}), (201, set())),
    "3.0.0/9a75050f-323a-4e84-94c9-a889aa2b4fe8_Aussonderung.BewertungEmpfangBestaetigen.0505.zip": (
        (201, {"XGW-HDR-007"}),
        (200, set()),
    ),
    "3.0.0/9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml": (UNROUTABLE, UNROUTABLE),
    "3.0.0/9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip": (UNROUTABLE, UNROUTABLE),
    "3.0.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml": ((422, {"XGW-NAME-001"}), (409, set())),
    "3.0.0/xx_Aussonderung.Bewertungsverzeichnis.0502.xml": (
        (422, {"XGW-HDR-001", "XGW-NAME-001"}),
        (422, {"XGW-HDR-001"}),
    ),
    "4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.xml": (UNROUTABLE, UNROUTABLE),
    "4.0.0/518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.zip": (UNROUTABLE, UNROUTABLE),
    "4.0.0/xx_Aussonderung.Anbieteverzeichnis.0501.xml": ((422, {"XGW-NAME-001"}), UNROUTABLE),
}

SLUGS = {403: "forged-sender", 409: "conflict", 422: "invalid-message"}


def _check(gateway: Gateway, response: httpx.Response, expected: tuple[int, set[str]], data: bytes) -> None:
    status, rules = expected
    if status == 200:
        assert response.status_code == 200, response.text
        return
    if status == 201:
        assert response.status_code == 201, response.text
        body = response.json()
        assert {w["rule"] for w in body["validation_report"]["warnings"]} >= rules
        assert response.headers["location"] == f"/api/v1/messages/{body['id']}"
        assert body["sha256"] == hashlib.sha256(data).hexdigest()
        assert body["size"] == len(data)
        with gateway.client(gateway.token(SAMPLE_SENDER, Scope.READ)) as reader:
            download = reader.get(f"/api/v1/messages/{body['id']}/payload")
        assert download.status_code == 200
        assert download.content == data
        return
    if (status, rules) == UNROUTABLE:
        problem = assert_problem(response, 422, "unknown-recipient")
        assert problem["reason"] == "recipient_not_identified"
        return
    problem = assert_problem(response, status, SLUGS[status])
    if status == 422:
        assert {e["rule"] for e in problem["report"]["errors"]} == rules
        assert problem["report"]["valid"] is False
    if status == 403:
        assert problem["reason"] == "sender_not_identified"


def test_every_sample_is_stored_byte_identical_or_refused_without_trace(fresh_gateway: Gateway) -> None:
    gateway = fresh_gateway
    token = gateway.token(SAMPLE_SENDER, Scope.SUBMIT)
    with gateway.client(token) as client:
        for relative, (named, unnamed) in SAMPLE_OUTCOMES.items():
            path = SAMPLES / relative
            data = path.read_bytes()
            if named[0] in (200, 201):
                response = client.post("/api/v1/messages", content=data, headers={"X-Filename": path.name})
                _check(gateway, response, named, data)
            else:
                with gateway.no_trace():
                    response = client.post("/api/v1/messages", content=data, headers={"X-Filename": path.name})
                    _check(gateway, response, named, data)
            if unnamed[0] in (200, 201):
                response = client.post("/api/v1/messages", content=data)
                _check(gateway, response, unnamed, data)
            else:
                with gateway.no_trace():
                    response = client.post("/api/v1/messages", content=data)
                    _check(gateway, response, unnamed, data)


@pytest.mark.parametrize("version", ["3.0.0", "3.1.0", "4.0.0"])  # the builder writes these
def test_generated_messages_and_packages_round_trip(gateway: Gateway, version: str, tmp_path: Path) -> None:
    token = gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)
    name, xml = offer(100 + int(version[0]) * 10 + int(version[2]), version=version)
    zipped = package(tmp_path, 7, version=version, registry=gateway.ctx.registry)
    with gateway.client(token) as client:
        for filename, data in ((name, xml), (zipped.name, zipped.read_bytes())):
            created = client.post("/api/v1/messages", params={"filename": filename}, content=data)
            assert created.status_code == 201, created.text
            message = created.json()
            assert message["xdomea_version"] == version
            assert message["sender"] == GOTHA
            assert message["content_kind"] == ("zip" if filename.endswith(".zip") else "xml")
            assert message["validation_report"]["valid"] is True
            assert message["events"][0]["to_state"] == "received"
            download = client.get(f"/api/v1/messages/{message['id']}/payload")
            assert download.content == data
            assert download.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
            assert download.headers["content-type"] == (
                "application/zip" if filename.endswith(".zip") else "application/xml"
            )
            assert download.headers["content-disposition"] == f'attachment; filename="{filename}"'


def test_resubmission_is_idempotent_and_other_content_conflicts(gateway: Gateway) -> None:
    name, data = offer(201)
    token = gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)
    with gateway.client(token) as client:
        first = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
        assert first.status_code == 201
        with gateway.no_trace():
            again = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
            assert again.status_code == 200
            assert again.json()["id"] == first.json()["id"]
            changed = data.replace(b"</xdomea:Kopf>", b"</xdomea:Kopf>\n", 1)
            assert changed != data
            conflict = assert_problem(
                client.post("/api/v1/messages", content=changed, headers={"X-Filename": name}), 409, "conflict"
            )
            assert conflict["existing"] == first.json()["id"]


def test_invalid_message_gets_the_report_and_leaves_no_trace(gateway: Gateway) -> None:
    name, data = offer(202)
    broken = data.replace(b"<xdomea:Nachrichtentyp", b"<xdomea:Unbekannt", 1).replace(
        b"</xdomea:Nachrichtentyp>", b"</xdomea:Unbekannt>", 1
    )
    assert broken != data
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client, gateway.no_trace():
        problem = assert_problem(
            client.post("/api/v1/messages", content=broken, headers={"X-Filename": name}), 422, "invalid-message"
        )
    assert problem["report"]["valid"] is False
    assert problem["report"]["errors"], problem
    assert all({"rule", "message", "message_de", "location"} <= set(e) for e in problem["report"]["errors"])
    for garbage in (b"not xml at all", b"<?xml version='1.0'?><unclosed>", zip_bytes({"a.txt": b"x"})):
        with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client, gateway.no_trace():
            assert_problem(client.post("/api/v1/messages", content=garbage), 422, "invalid-message")


def test_forged_sender_is_refused_without_trace(gateway: Gateway) -> None:
    name, data = offer(203)  # Absender: Gotha
    with gateway.client(gateway.token(ALTENBURG, Scope.SUBMIT)) as client, gateway.no_trace():
        problem = assert_problem(
            client.post("/api/v1/messages", content=data, headers={"X-Filename": name}), 403, "forged-sender"
        )
    assert problem["reason"] == "forged_sender"
    assert GOTHA in problem["detail"]


def test_unknown_recipient_is_refused_without_trace(gateway: Gateway) -> None:

    name, data = offer(204)
    stranger = data.replace(b"16000001", b"16999999")
    assert stranger != data
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client, gateway.no_trace():
        problem = assert_problem(
            client.post("/api/v1/messages", content=stranger, headers={"X-Filename": name}), 422, "unknown-recipient"
        )
    assert "16999999" in problem["detail"]


def test_a_second_authority_submits_its_own(gateway: Gateway) -> None:
    name, data = offer(205, sender=ALTENBURG_PARTY)
    with gateway.client(gateway.token(ALTENBURG, Scope.SUBMIT)) as client:
        response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
    assert response.status_code == 201, response.text
    assert response.json()["sender"] == ALTENBURG


def test_declared_oversize_is_refused_before_reading(gateway: Gateway) -> None:
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client, gateway.no_trace():
        problem = assert_problem(
            client.post("/api/v1/messages", content=b"<" + b"x" * (MAX_SUBMIT + 1)), 413, "payload-too-large"
        )
    assert problem["limit"] == MAX_SUBMIT


def _raw_request(gateway: Gateway, head: bytes) -> socket.socket:
    host, port = gateway.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head)
    return sock


def _kernel_buffering(sock: socket.socket) -> int:
    """Bytes a loopback connection can hold that the server never read: our send buffer and the most the
    kernel lets the server's receive buffer grow to."""
    receive_max = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) + receive_max


def _read_response(sock: socket.socket) -> bytes:
    received = b""
    sock.settimeout(30)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def test_streamed_oversize_is_cut_off_at_the_limit(gateway: Gateway) -> None:
    """A chunked upload without Content-Length is aborted once it crosses the limit; nothing is kept.

    The server answers 413 and closes while the client is still sending; the kernel may then reset the
    connection before the client has read the answer, so the server's own count of 413 answers is the
    proof, and whatever answer did arrive must be the problem document.

    "Kept reading" is what the kernel cannot explain: on loopback the client's send buffer and the
    server's (autotuned up to ``tcp_rmem``'s maximum, 32 MiB here) take bytes nobody read, and a loaded
    machine lets the client fill them before the server has even looked. So the client sends until the
    limit plus all of that plus the two 1 MiB batches the upload holds in memory; a server that reads on
    gets all of it and fails the test.
    """
    token = gateway.token(GOTHA, Scope.SUBMIT)
    refused_before = gateway.finished("POST", "/api/v1/messages", 413)
    with gateway.no_trace():
        sock = _raw_request(
            gateway,
            b"POST /api/v1/messages HTTP/1.1\r\nHost: test\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\nContent-Type: application/xml\r\n\r\n",
        )
        chunk = b"<" + b"a" * (64 * 1024 - 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)  # fixed: no autotuning
        beyond = MAX_SUBMIT + _kernel_buffering(sock) + 2 * 1024 * 1024
        sent = 0
        sock.setblocking(False)
        stopped = False
        deadline = time.monotonic() + 60
        while sent < beyond and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1)
            if readable:
                stopped = True
                break
            if writable:
                try:
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    stopped = True
                    break
                sent += len(chunk)
        sock.setblocking(True)
        response = _read_response(sock)
        sock.close()
        gateway.wait_finished("POST", "/api/v1/messages", refused_before, status=413)
    assert stopped, "the server kept reading past the limit"
    assert sent < beyond
    if response:
        assert response.startswith(b"HTTP/1.1 413"), response[:200]
        assert b"application/problem+json" in response
        assert b"urn:xoev-gateway:problem:payload-too-large" in response


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_truncated_upload_leaves_no_trace(gateway: Gateway, framing: str) -> None:
    name, data = offer(206)
    token = gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)
    half = data[: len(data) // 2]
    handled = gateway.finished("POST", "/api/v1/messages")
    with gateway.no_trace():
        if framing == "content-length":
            head = f"Content-Length: {len(data)}\r\n".encode()
            body = half
        else:
            head = b"Transfer-Encoding: chunked\r\n"
            body = f"{len(half):x}\r\n".encode() + half + b"\r\n"  # the terminating 0-chunk never comes
        sock = _raw_request(
            gateway,
            b"POST /api/v1/messages HTTP/1.1\r\nHost: test\r\n"
            + f"Authorization: Bearer {token}\r\nX-Filename: {name}\r\n".encode()
            + head
            + b"\r\n"
            + body,
        )
        sock.shutdown(socket.SHUT_WR)
        response = _read_response(sock)
        sock.close()
        assert not response.startswith((b"HTTP/1.1 200", b"HTTP/1.1 201")), response[:200]
        gateway.wait_finished("POST", "/api/v1/messages", handled)
    with gateway.client(token) as client:
        listed = client.get("/api/v1/messages", params={"process": name.split("_")[0]}).json()
    assert listed["items"] == []


def test_empty_body_is_a_problem(gateway: Gateway) -> None:
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client, gateway.no_trace():
        problem = assert_problem(client.post("/api/v1/messages", content=b""), 422, "invalid-message")
        report = client.post("/api/v1/validate", content=b"").json()
    assert [e["rule"] for e in problem["report"]["errors"]] == ["XGW-IN-002"]
    assert [e["rule"] for e in report["errors"]] == ["XGW-IN-002"]


def test_validate_answers_with_the_report_and_stores_nothing(gateway: Gateway) -> None:
    sample = SAMPLES / "3.0.0" / "xx_Aussonderung.Bewertungsverzeichnis.0502.xml"
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client, gateway.no_trace():
        named = client.post("/api/v1/validate", content=sample.read_bytes(), headers={"X-Filename": sample.name})
        unnamed = client.post("/api/v1/validate", content=sample.read_bytes())
        package_sample = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip"
        zipped = client.post("/api/v1/validate", content=package_sample.read_bytes())
    assert named.status_code == 200
    assert {e["rule"] for e in named.json()["errors"]} == {"XGW-HDR-001", "XGW-NAME-001"}
    assert {e["rule"] for e in unnamed.json()["errors"]} == {"XGW-HDR-001"}
    assert zipped.json()["valid"] is True, zipped.json()
    assert zipped.json()["message_type"] == "0503"


def test_validation_failures_are_counted_by_rule(gateway: Gateway) -> None:
    sample = SAMPLES / "2.4.0" / "xx_Aussonderung.AnbietungEmpfangBestaetigen.0504.xml"
    admin = gateway.token("xgw:operator", Scope.ADMIN)

    def count() -> float:
        with gateway.client(admin) as client:
            text = client.get("/metrics").text
        for line in text.splitlines():
            if line.startswith('xgw_validation_failures_total{rule="XGW-HDR-001"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        client.post("/api/v1/validate", content=sample.read_bytes())
    assert count() == before + 1


def test_file_names_by_header_or_query(gateway: Gateway) -> None:
    name, data = offer(207)
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        encoded = client.post("/api/v1/validate", content=data, headers={"X-Filename": name.replace("_", "%5F")})
        assert encoded.json()["valid"] is True
        wrong = client.post("/api/v1/validate", content=data, params={"filename": "Umlaut-Ä.xml"})
        assert "XGW-NAME-001" in {e["rule"] for e in wrong.json()["errors"]}
        assert wrong.json()["path"] == "Umlaut-Ä.xml"
        with gateway.no_trace():
            assert_problem(
                client.post("/api/v1/messages", content=data, headers={"X-Filename": "%ff%fe.xml"}), 400, "bad-request"
            )


SHARED_0503 = "3.0.0/9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip"


def test_a_shared_sample_naming_the_institution_only_is_accepted_from_a_districts_token(
    fresh_gateway: Gateway,
) -> None:
    """Issue 9: the token names the sender, ``?recipient=`` the recipient; the report says so."""
    data = (SAMPLES / SHARED_0503).read_bytes()
    with fresh_gateway.client(fresh_gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
        response = client.post("/api/v1/messages", content=data, params={"recipient": ARCHIVE})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["sender"], body["recipient"], body["message_type"]) == (GOTHA, ARCHIVE, "0503")
    assert {w["rule"] for w in body["validation_report"]["warnings"]} >= {"XGW-HDR-007", "XGW-HDR-008"}


def test_a_version_the_recipient_does_not_accept_is_a_problem_naming_the_accepted_ones(
    fresh_gateway: Gateway,
) -> None:
    with fresh_gateway.ctx.session() as session:
        archive = session.exec(sqlselect(Participant).where(Participant.xoev_id == ARCHIVE)).one()
        archive.accepted_versions = ["3.0.0", "3.1.0"]
        session.add(archive)
        session.commit()
    name, data = offer(901, version="4.0.0")
    with fresh_gateway.client(fresh_gateway.token(GOTHA, Scope.SUBMIT)) as client, fresh_gateway.no_trace():
        response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
        problem = assert_problem(response, 422, "version-not-accepted")
    assert problem["reason"] == "version_not_accepted"
    assert (problem["version"], problem["accepted_versions"], problem["recipient"]) == (
        "4.0.0",
        ["3.0.0", "3.1.0"],
        ARCHIVE,
    )
