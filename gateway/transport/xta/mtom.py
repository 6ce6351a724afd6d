"""MTOM/XOP (``multipart/related``) in both directions, streaming.

Reading: the MIME framing is parsed by python-multipart's streaming ``MultipartParser`` (the parser behind
Starlette's forms; it only needs the boundary, so ``multipart/related`` works as well as form data). This
module routes what it emits: the root part -- the one whose Content-ID the ``start`` parameter names, or
the first part -- into memory up to the envelope limit, every other part into its own spool file, so
memory does not grow with attachment size. ``Content-Transfer-Encoding`` binary/8bit/7bit is taken as is
and base64 is decoded on the fly; anything else is refused.

Writing: a reply is the envelope part followed by one part per file, framed the way the clients in the
field parse it (see the XTA README): lower-case ``multipart/related`` parameters, ``start`` with angle
brackets, ``Name: value`` part headers, ``Content-Transfer-Encoding: binary``, and an exact length so the
response needs no chunking. A file whose first or last byte is CR or LF is marked
``Content-Transfer-Encoding: Binary`` (capital B): zeep strips every leading and trailing CR/LF from a
part whose encoding is exactly ``binary`` (``zeep.wsdl.attachments.Attachment.content``) and would receive
other bytes than were sent, but returns any other identity encoding untouched. Encoding names are
case-insensitive (RFC 2045, 6.1), and CXF (``AttachmentUtil.decode``), .NET WCF
(``ContentTransferEncodingHeader`` lower-cases) and our reader all read it as ``binary``. base64 would
have been the other way round zeep, but WCF refuses any MTOM binary part not marked binary.
"""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.transport.xta.errors import ErrorCode, ParameterInvalid
from gateway.transport.xta.spool import Spool

READ_CHUNK = 256 * 1024
_MAX_PART_HEADERS = 32
_MAX_HEADER_LINE = 8192
_IDENTITY_ENCODINGS = frozenset({"", "binary", "8bit", "7bit"})
_WHITESPACE = b" \t\r\n"
_CRLF_BYTES = b"\r\n"


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``(type, params)`` with the type lower-cased, parameter names lower-cased, quotes and escapes undone.

    Handles what CXF and .NET send: a boundary with a colon, and ``start-info``/``type`` values holding
    backslash-escaped quotes (``start-info="application/soap+xml; action=\\"...\\""``).
    """
    kind, params = parse_options_header(value)
    return kind.decode("latin-1"), {k.decode("latin-1"): v.decode("latin-1") for k, v in params.items()}


def bare_content_id(value: str) -> str:
    """A Content-ID without white space and angle brackets, as ``cid:`` URLs refer to it."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def cid_of_href(href: str) -> str | None:
    """The Content-ID an ``xop:Include href`` points at (RFC 2392: ``cid:`` plus a URL-encoded id)."""
    href = href.strip()
    if href[:4].lower() != "cid:":
        return None
    return unquote(href[4:])


@dataclass(frozen=True, slots=True)
class Attachment:
    """A non-root MIME part, spooled to ``path``."""

    content_id: str
    content_type: str
    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class MultipartBody:
    """A parsed ``multipart/related`` request: the root part's bytes and the spooled others by Content-ID."""

    root: bytes
    root_content_type: str
    attachments: dict[str, Attachment]


class _Sink(Protocol):
    def write(self, data: bytes) -> int: ...


class _Memory:
    """Collects the root part, refusing to grow beyond the envelope limit."""

    def __init__(self, limit: int) -> None:
        self.buffer = bytearray()
        self.limit = limit

    def write(self, data: bytes) -> int:
        if len(self.buffer) + len(data) > self.limit:
            raise ParameterInvalid(
                ErrorCode.MESSAGE_TOO_LARGE, f"the SOAP envelope exceeds {self.limit} bytes; send content as MTOM"
            )
        self.buffer += data
        return len(data)


class Base64Writer:
    """Decodes base64 arriving in arbitrary pieces (white space allowed) into ``out``."""

    def __init__(self, out: _Sink) -> None:
        self.out = out
        self.rest = b""
        self.written = 0

    def write(self, data: bytes) -> int:
        data = self.rest + data.translate(None, _WHITESPACE)
        whole = len(data) // 4 * 4
        self.rest = data[whole:]
        if whole:
            try:
                decoded = binascii.a2b_base64(data[:whole], strict_mode=True)
            except binascii.Error:
                raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, "invalid base64 content") from None
            self.out.write(decoded)
            self.written += len(decoded)
        return len(data)

    def close(self) -> None:
        if self.rest:
            raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, "truncated base64 content")


class MultipartReader:
    """Feed the request body in chunks (:meth:`feed`), then take the result (:meth:`finish`).

    The callbacks run inside ``MultipartParser.write``; the server charges each chunk as it arrives and
    calls :meth:`parse` in a worker thread, in batches, because the spool writes block.
    """

    def __init__(self, boundary: str, start: str | None, spool: Spool, max_envelope: int, max_parts: int) -> None:
        self.start = bare_content_id(start) if start else None
        self.spool = spool
        self.max_envelope = max_envelope
        self.max_parts = max_parts
        self.attachments: dict[str, Attachment] = {}
        self.root: bytes | None = None
        self.root_type = ""
        self.ended = False
        self._parts = 0
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}
        self._sink: _Sink | None = None
        self._file: BinaryIO | None = None
        self._b64: Base64Writer | None = None
        self._memory: _Memory | None = None
        self._path: Path | None = None
        self._size = 0
        callbacks: dict[str, Callable[..., None]] = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }
        try:
            self._parser = MultipartParser(
                boundary.encode("latin-1"),
                callbacks,  # type: ignore[arg-type]
                max_header_count=_MAX_PART_HEADERS,
                max_header_size=_MAX_HEADER_LINE,
            )
        except (MultipartParseError, UnicodeEncodeError) as exc:
            raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, f"bad boundary: {exc}") from None

    # -- parser callbacks -----------------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > self.max_parts:
            raise ParameterInvalid(ErrorCode.MESSAGE_TOO_LARGE, f"more than {self.max_parts} MIME parts")
        self._headers = {}
        self._field.clear()
        self._value.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self._headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        cid = bare_content_id(self._headers.get("content-id", ""))
        is_root = cid == self.start if self.start is not None else self._parts == 1
        encoding = self._headers.get("content-transfer-encoding", "").strip().lower()
        if encoding not in _IDENTITY_ENCODINGS and encoding != "base64":
            raise ParameterInvalid(
                ErrorCode.INVALID_PARAMETER_COMBINATION, f"unsupported Content-Transfer-Encoding {encoding!r}"
            )
        self._size = 0
        self._b64 = None
        if is_root:
            if self.root is not None or self._memory is not None:
                raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, "two root parts")
            self._memory = _Memory(self.max_envelope)
            target: _Sink = self._memory
            self.root_type = self._headers.get("content-type", "")
        else:
            if not cid:
                raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, "a MIME part without Content-ID")
            if cid in self.attachments or cid == self.start:
                raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, f"duplicate Content-ID {cid}")
            self._path, self._file = self.spool.new_file()
            target = self._file
        if encoding == "base64":
            self._b64 = Base64Writer(target)
            target = self._b64
        self._sink = target

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is None:  # data before headers cannot happen with a well-formed parser state
            raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, "MIME part data without headers")
        piece = data[start:end]
        self._sink.write(piece)
        self._size += len(piece)

    def _part_end(self) -> None:
        if self._b64 is not None:
            self._b64.close()
        if self._memory is not None:
            self.root = bytes(self._memory.buffer)
            self._memory = None
        elif self._file is not None and self._path is not None:
            self._file.close()
            cid = bare_content_id(self._headers.get("content-id", ""))
            size = self._b64.written if self._b64 is not None else self._size
            kind = self._headers.get("content-type", "application/octet-stream")
            self.attachments[cid] = Attachment(cid, kind, self._path, size)
            self._file = None
            self._path = None
        self._sink = None
        self._b64 = None

    def _end(self) -> None:
        self.ended = True

    # -- driving --------------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        """Count ``chunk`` against the spool's budget, then parse it."""
        self.spool.charge(len(chunk))
        self.parse(chunk)

    def parse(self, chunk: bytes) -> None:
        """Parse ``chunk`` whose bytes the caller has already charged to the spool (may write spool files)."""
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            self.close()
            raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, f"malformed MIME body: {exc}") from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close a spool file left open by an error (the spool directory itself is removed later)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self) -> MultipartBody:
        self.close()
        if not self.ended:
            raise ParameterInvalid(
                ErrorCode.INVALID_PARAMETER_COMBINATION, "the MIME body ends before its last boundary"
            )
        if self.root is None:
            raise ParameterInvalid(ErrorCode.NO_PARAMETERS, "the MIME body has no root part with the SOAP envelope")
        return MultipartBody(self.root, self.root_type, self.attachments)


# -- writing --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutPart:
    """A file to send as one MIME part after the envelope."""

    content_id: str
    path: Path
    size: int
    content_type: str = "application/octet-stream"


def _edges_are_crlf(part: OutPart) -> bool:
    """Whether the file starts or ends with a CR or LF byte, which zeep strips from a ``binary`` part."""
    if part.size == 0:
        return False
    with part.path.open("rb") as handle:
        first = handle.read(1)
        handle.seek(part.size - 1)
        last = handle.read(1)
    return bool(first and first in _CRLF_BYTES) or bool(last and last in _CRLF_BYTES)


def _blocks(part: OutPart, block_size: int) -> Iterator[bytes]:
    """The file in blocks of at most ``block_size`` bytes; fails loudly if it is shorter than announced."""
    remaining = part.size
    with part.path.open("rb") as handle:
        while remaining:
            block = handle.read(min(block_size, remaining))
            if not block:
                raise OSError(f"{part.path} is shorter than the {part.size} bytes announced")
            remaining -= len(block)
            yield block


@dataclass(frozen=True, slots=True)
class MtomMessage:
    """A complete ``multipart/related`` reply: headers to set and the body to stream."""

    content_type: str
    content_length: int
    head: bytes
    parts: tuple[tuple[bytes, OutPart], ...]
    tail: bytes

    def chunks(self) -> Iterator[bytes]:
        """The body, reading each file in bounded chunks; fails loudly if a file changed size."""
        yield self.head
        for headers, part in self.parts:
            yield headers
            yield from _blocks(part, READ_CHUNK)
        yield self.tail


def new_content_id(domain: str = "xoev-gateway") -> str:
    """A Content-ID that needs no URL escaping in ``cid:`` references."""
    return f"{uuid.uuid4()}@{domain}"


def mtom_message(envelope: bytes, parts: Sequence[OutPart], root_id: str) -> MtomMessage:
    """Frame ``envelope`` (which must reference ``parts`` by ``cid:``) and ``parts`` as MTOM."""
    boundary = f"uuid:{uuid.uuid4()}"
    dash = f"--{boundary}".encode("ascii")
    head = (
        dash
        + b'\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"'
        + b"\r\nContent-Transfer-Encoding: binary"
        + f"\r\nContent-ID: <{root_id}>\r\n\r\n".encode("ascii")
        + envelope
    )
    framed = []
    for part in parts:
        # "Binary" for zeep, which strips CR/LF around a part marked exactly "binary" (see the module doc)
        encoding = b"Binary" if _edges_are_crlf(part) else b"binary"
        headers = (
            b"\r\n"
            + dash
            + f"\r\nContent-Type: {part.content_type}".encode("ascii")
            + b"\r\nContent-Transfer-Encoding: "
            + encoding
            + f"\r\nContent-ID: <{part.content_id}>\r\n\r\n".encode("ascii")
        )
        framed.append((headers, part))
    tail = b"\r\n" + dash + b"--\r\n"
    length = len(head) + sum(len(h) + p.size for h, p in framed) + len(tail)
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="<{root_id}>"; start-info="application/soap+xml"'
    )
    return MtomMessage(content_type, length, head, tuple(framed), tail)
