"""The MTOM reader and writer without HTTP: fuzzed framing, chunk splits, encodings, and the code list."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.transport.xta.errors import ErrorCode, ParameterInvalid
from gateway.transport.xta.mtom import MultipartReader, OutPart, mtom_message, parse_content_type
from gateway.transport.xta.spool import Spool

from .support import XTA_DIR

ROOT = "root.message@cxf.apache.org"


def framed(boundary: str, root: bytes, parts: list[tuple[str, bytes]], *, b64: bool = False) -> bytes:
    dash = f"--{boundary}".encode()
    out = b"\r\n" + dash + f"\r\nContent-Type: application/xop+xml\r\nContent-ID: <{ROOT}>\r\n\r\n".encode() + root
    for cid, data in parts:
        encoding = "base64" if b64 else "binary"
        body = base64.encodebytes(data) if b64 else data
        out += b"\r\n" + dash + f"\r\nContent-Transfer-Encoding: {encoding}\r\nContent-ID: <{cid}>\r\n\r\n".encode()
        out += body
    return out + b"\r\n" + dash + b"--\r\n"


def read(tmp: Path, boundary: str, body: bytes, cuts: list[int], start: str | None = f"<{ROOT}>") -> MultipartReader:
    reader = MultipartReader(boundary, start, Spool(tmp, 1 << 30), 1 << 20, 100)
    previous = 0
    for cut in [*sorted(c % (len(body) + 1) for c in cuts), len(body)]:
        reader.feed(body[previous:cut])
        previous = max(previous, cut)
    return reader


contents = st.lists(
    st.one_of(
        st.binary(max_size=3000),
        st.builds(
            lambda a, b, c: a + b + c,
            st.sampled_from([b"", b"\r", b"\n", b"\r\n"]),
            st.binary(max_size=300),
            st.sampled_from([b"", b"\r", b"\n", b"\n\r"]),
        ),
    ),
    max_size=4,
)
boundaries = st.sampled_from(["uuid:" + str(uuid.UUID(int=7)), "MIMEBoundary_abc", "a:b:c", "----=_Part_0"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=contents, boundary=boundaries, cuts=st.lists(st.integers(min_value=0), max_size=6), b64=st.booleans())
def test_reader_recovers_every_part(
    tmp_path: Path, data: list[bytes], boundary: str, cuts: list[int], b64: bool
) -> None:
    parts = [(f"{i}@xoev.de", d) for i, d in enumerate(data)]
    reader = read(tmp_path, boundary, framed(boundary, b"<Envelope/>", parts, b64=b64), cuts)
    body = reader.finish()
    assert body.root == b"<Envelope/>"
    assert {cid: a.path.read_bytes() for cid, a in body.attachments.items()} == dict(parts)
    assert all(a.size == len(dict(parts)[cid]) for cid, a in body.attachments.items())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=contents, cuts=st.lists(st.integers(min_value=0), max_size=4))
def test_writer_output_reads_back(tmp_path: Path, data: list[bytes], cuts: list[int]) -> None:
    out = []
    for i, d in enumerate(data):
        path = tmp_path / f"{uuid.uuid4()}.bin"
        path.write_bytes(d)
        out.append(OutPart(f"{i}@xoev-gateway", path, len(d)))
    message = mtom_message(b"<Envelope/>", out, "root@xoev-gateway")
    body = b"".join(message.chunks())
    assert len(body) == message.content_length
    kind, params = parse_content_type(message.content_type)
    assert kind == "multipart/related" and params["type"] == "application/xop+xml"
    reader = read(tmp_path, params["boundary"], body, cuts, params["start"])
    parsed = reader.finish()
    assert parsed.root == b"<Envelope/>"
    assert {cid: a.path.read_bytes() for cid, a in parsed.attachments.items()} == {
        f"{i}@xoev-gateway": d for i, d in enumerate(data)
    }


EDGY = [b"\r\n<xdomea/>\r\n", b"\n", b"\r", b"\r\n\r\n" + bytes(range(256)) * 2000 + b"\n\r", b"x\r\ny"]


def test_parts_with_cr_or_lf_at_an_edge_are_marked_capital_binary(tmp_path: Path) -> None:
    """zeep strips leading/trailing CR/LF only from parts marked exactly "binary": such files say "Binary"."""
    out = []
    for i, d in enumerate(EDGY):
        path = tmp_path / f"{i}.bin"
        path.write_bytes(d)
        out.append(OutPart(f"{i}@xoev-gateway", path, len(d)))
    message = mtom_message(b"<Envelope/>", out, "root@xoev-gateway")
    body = b"".join(message.chunks())
    assert len(body) == message.content_length
    encodings = [h.split(b"Content-Transfer-Encoding: ")[1].split(b"\r\n")[0] for h, _ in message.parts]
    assert encodings == [b"Binary", b"Binary", b"Binary", b"Binary", b"binary"]
    assert all(d in body for d in EDGY)  # on the wire as they are, no encoding
    _, params = parse_content_type(message.content_type)
    parsed = read(tmp_path, params["boundary"], body, [], params["start"]).finish()
    assert [parsed.attachments[f"{i}@xoev-gateway"].path.read_bytes() for i in range(len(EDGY))] == EDGY


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=400))
def test_garbage_is_refused_or_parsed_never_crashes(tmp_path: Path, garbage: bytes) -> None:
    reader = MultipartReader("uuid:x", None, Spool(tmp_path, 1 << 20), 1 << 16, 10)
    try:
        reader.feed(garbage)
        reader.finish()
    except ParameterInvalid:
        pass


def test_content_type_with_colon_boundary_and_escaped_start_info() -> None:
    value = (
        'multipart/related; type="application/xop+xml"; boundary="uuid:5c2a-7f"; '
        'start="<root.message@cxf.apache.org>"; '
        'start-info="application/soap+xml; action=\\"http://www.xta.de/XTA/SendMessage\\""'
    )
    kind, params = parse_content_type(value)
    assert kind == "multipart/related"
    assert params["boundary"] == "uuid:5c2a-7f"
    assert params["start-info"] == 'application/soap+xml; action="http://www.xta.de/XTA/SendMessage"'


def test_root_part_is_bounded(tmp_path: Path) -> None:
    body = framed("b", b"x" * 5000, [])
    reader = MultipartReader("b", f"<{ROOT}>", Spool(tmp_path, 1 << 20), 1000, 10)
    with pytest.raises(ParameterInvalid) as caught:
        reader.feed(body)
    assert caught.value.code is ErrorCode.MESSAGE_TOO_LARGE


def test_error_codes_match_the_xta_code_list() -> None:
    schema = etree.parse(str(XTA_DIR / "XTA-Webservice-Datentypen.xsd"))
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    listed = {
        e.get("value"): " ".join((e.findtext("xs:annotation/xs:appinfo/codeName", namespaces=ns) or "").split())
        for e in schema.iterfind(".//xs:simpleType[@name='Codelist.Fehlernummer']//xs:enumeration", ns)
    }
    assert {c.code: c.text for c in ErrorCode} == listed


def test_a_spool_touches_the_disk_only_for_content(tmp_path: Path) -> None:
    """No directory per request: nothing exists until a content item arrives; then one private file below a
    private root, removed by the clean-up (issue 11: mkdtemp/rmtree per request cost milliseconds)."""
    root = tmp_path / "spool"
    empty = Spool(root, 1 << 20)
    empty.charge(100)
    empty.cleanup()
    assert not root.exists()
    spool = Spool(root, 1 << 20, 10)
    path, handle = spool.new_file()
    with handle:
        handle.write(b"0123456789")
        with pytest.raises(ParameterInvalid) as refused:
            handle.write(b"x")
    assert refused.value.code is ErrorCode.MESSAGE_TOO_LARGE
    assert path.parent == root and path.stat().st_mode & 0o777 == 0o600 and root.stat().st_mode & 0o777 == 0o700
    other, second = Spool(root, 1 << 20).new_file()
    second.close()
    assert other != path
    spool.cleanup()
    assert list(root.iterdir()) == [other]
