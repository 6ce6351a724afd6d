"""A raw client that frames requests the way Apache CXF 4 clients of XTA servers do (see the XTA README).

Every request is MTOM even without attachments: ``multipart/related`` with a boundary holding a colon,
``start`` naming ``<root.message@cxf.apache.org>``, ``start-info`` with backslash-escaped quotes, the
envelope canonicalised (C14N), binary attachment parts with ``Content-ID: <uuid@xoev.de>``, an unquoted
``SOAPAction`` and an explicit ``Content-Length`` (no chunking).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from lxml import etree

ROOT_ID = "root.message@cxf.apache.org"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """An attachment: its Content-ID and its bytes (or a file to stream)."""

    content_id: str
    data: bytes | Path

    @property
    def size(self) -> int:
        return len(self.data) if isinstance(self.data, bytes) else self.data.stat().st_size


def new_cid() -> str:
    return f"{uuid.uuid4()}@xoev.de"


def canonical(envelope: bytes) -> bytes:
    return etree.tostring(etree.fromstring(envelope), method="c14n")


@dataclass(frozen=True)
class Framed:
    headers: dict[str, str]
    pieces: tuple[bytes | Part, ...]

    @property
    def length(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else p.size for p in self.pieces)

    def stream(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
            elif isinstance(piece.data, bytes):
                yield piece.data
            else:
                with piece.data.open("rb") as handle:
                    while block := handle.read(CHUNK):
                        yield block

    def body(self) -> bytes:
        return b"".join(self.stream())


def frame(action: str | None, envelope: bytes, parts: Sequence[Part] = (), *, soap_action: bool = True) -> Framed:
    boundary = f"uuid:{uuid.uuid4()}"
    dash = f"--{boundary}".encode()
    escaped = f'application/soap+xml; action=\\"{action}\\"' if action else "application/soap+xml"
    pieces: list[bytes | Part] = [
        b"\r\n"
        + dash
        + f'\r\nContent-Type: application/xop+xml; charset=UTF-8; type="{escaped}"'.encode()
        + b"\r\nContent-Transfer-Encoding: binary"
        + f"\r\nContent-ID: <{ROOT_ID}>\r\n\r\n".encode()
        + canonical(envelope)
    ]
    for part in parts:
        pieces.append(
            b"\r\n"
            + dash
            + b"\r\nContent-Type: application/octet-stream"
            + b"\r\nContent-Transfer-Encoding: binary"
            + f"\r\nContent-ID: <{part.content_id}>\r\n\r\n".encode()
        )
        pieces.append(part)
    pieces.append(b"\r\n" + dash + b"--")
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="<{ROOT_ID}>"; start-info="{escaped}"'
    )
    headers = {"Content-Type": content_type, "User-Agent": "Apache-CXF/4.0.7", "Accept": "*/*"}
    if soap_action and action:
        headers["SOAPAction"] = action
    framed = Framed(headers, tuple(pieces))
    framed.headers["Content-Length"] = str(framed.length)
    return framed


def post(url: str, framed: Framed, *, timeout: float = 60.0) -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.post(url, content=framed.stream(), headers=framed.headers)
