"""One SOAP exchange over HTTP(S): send an envelope (plain or MTOM, streamed), read the reply (streamed).

A :class:`Channel` owns a ``requests`` session for one peer, with that peer's pinned CA and our client
certificate (mutual TLS); ``trust_env`` is off so that neither proxy variables nor ``REQUESTS_CA_BUNDLE``
can quietly change whom we trust. Every exchange has three clocks: the connect timeout, the read timeout
(the longest silence between two reads), and an operation deadline for the whole exchange that grows with
the bytes moved -- a peer that trickles one byte a second defeats a read timeout but not the deadline.

Replies are read as they arrive: a plain SOAP reply into memory up to the envelope limit, an MTOM reply
through the server's streaming :class:`~gateway.transport.xta.mtom.MultipartReader` with every content
part in its own spool file, so a 500 MiB getMessage never sits in memory. The envelope goes through the
hardened parser (no DTD, entities or network). Whatever is not a usable reply becomes a typed error
(:mod:`.errors`): a SOAP Fault by its XTA exception, other answers by HTTP status.
"""

from __future__ import annotations

import logging
import ssl
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from lxml import etree
from urllib3.exceptions import ReadTimeoutError

from gateway.config import XtaClient
from gateway.transport.xta.errors import XtaError
from gateway.transport.xta.mtom import (
    READ_CHUNK,
    Attachment,
    MultipartReader,
    OutPart,
    mtom_message,
    parse_content_type,
)
from gateway.transport.xta.ns import SOAP12, XTA, q
from gateway.transport.xta.soap import Envelope, parse_envelope
from gateway.transport.xta.spool import Spool
from gateway.transport.xta_client.errors import (
    BadReply,
    ConnectionFailed,
    HttpError,
    HttpRefused,
    Timeout,
    TlsRefused,
    XtaClientError,
    XtaFault,
    fault_error,
)
from gateway.transport.xta_client.peer import Peer

log = logging.getLogger(__name__)

MIB = 1024 * 1024
USER_AGENT = "xoev-gateway-xta-client"
_TRUST_FAILURES = (
    "certificate_verify_failed",
    "certificate required",
    "unknown ca",
    "bad certificate",
    "certificate unknown",
    "handshake failure",
)


class DeadlineExceeded(Exception):
    """The operation deadline passed (raised inside body iteration; deliberately not an OSError)."""


class Deadline:
    """The end of one operation; grows with the bytes moved (``seconds_per_mib``)."""

    def __init__(self, seconds: float, per_mib: float) -> None:
        self.at = time.monotonic() + seconds
        self.per_mib = per_mib

    def grant(self, nbytes: int) -> None:
        self.at += self.per_mib * nbytes / MIB

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise DeadlineExceeded


class _Body:
    """A streamed request body whose length requests can see (so it sends Content-Length, not chunks)."""

    def __init__(self, chunks: Iterator[bytes], length: int, deadline: Deadline) -> None:
        self._chunks = chunks
        self._length = length
        self._deadline = deadline

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._deadline.check()
            yield chunk


@dataclass(slots=True)
class Reply:
    """A successful reply: status, parsed envelope and the MTOM parts in ``spool`` (the caller cleans up)."""

    status: int
    envelope: Envelope
    attachments: dict[str, Attachment]
    spool: Spool


def soap_content_type(action: str) -> str:
    return f'application/soap+xml; charset=utf-8; action="{action}"'


def read_fault(envelope: Envelope) -> XtaFault | None:
    """The Fault of a reply envelope, if its body is one."""
    fault = envelope.body_element()
    if fault is None or fault.tag != q(SOAP12, "Fault"):
        return None
    reason = " ".join(str(t).strip() for t in fault.itertext(q(SOAP12, "Text")) if str(t).strip())
    value = (fault.findtext(f"{q(SOAP12, 'Code')}/{q(SOAP12, 'Value')}") or "").strip()
    soap_code = value.rpartition(":")[2] or None
    exception: str | None = None
    code: str | None = None
    name: str | None = None
    detail = fault.find(q(SOAP12, "Detail"))
    first = next((c for c in detail if isinstance(c.tag, str)), None) if detail is not None else None
    if first is not None:
        exception = etree.QName(first).localname
        error_code = first.find(q(XTA, "errorCode"))
        if error_code is None:  # be lenient about the namespace of errorCode
            error_code = next((e for e in first.iter() if etree.QName(e).localname == "errorCode"), None)
        if error_code is not None:
            code = (error_code.findtext("code") or "").strip() or None
            name = (error_code.findtext("name") or "").strip() or None
    return XtaFault(exception, code, name, reason or "(no reason given)", soap_code)


def _is_trust_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        text = str(current).lower()
        if any(marker in text for marker in _TRUST_FAILURES):
            return True
        current = current.__cause__ or current.__context__ or (current.args[0] if current.args else None)
        if not isinstance(current, BaseException):
            current = None
    return False


class Channel:
    """HTTP to one peer; thread-safe (the session's connection pool is)."""

    def __init__(self, peer: Peer, config: XtaClient, spool_root: Path) -> None:
        self.peer = peer
        self.config = config
        self.spool_root = spool_root
        session = requests.Session()
        session.trust_env = False
        session.verify = peer.verify
        session.cert = peer.client_cert
        session.headers["User-Agent"] = USER_AGENT
        self.session = session

    def close(self) -> None:
        self.session.close()

    def _error(self, operation: str, exc: BaseException) -> XtaClientError:
        peer = self.peer.url
        if isinstance(exc, DeadlineExceeded):
            return Timeout(peer, operation, "the operation took longer than its deadline")
        if isinstance(exc, (requests.exceptions.SSLError, ssl.SSLError)):
            if _is_trust_failure(exc):
                return TlsRefused(peer, operation, f"TLS refused: {exc}")
            return ConnectionFailed(peer, operation, f"TLS failed: {exc}")
        if isinstance(exc, requests.exceptions.Timeout):
            return Timeout(peer, operation, f"timed out: {exc}")
        if (
            isinstance(exc, requests.exceptions.ConnectionError)
            and exc.args
            and isinstance(exc.args[0], ReadTimeoutError)
        ):
            return Timeout(peer, operation, f"timed out reading the reply: {exc}")
        if _is_trust_failure(exc):
            return TlsRefused(peer, operation, f"TLS refused: {exc}")
        return ConnectionFailed(peer, operation, f"{type(exc).__name__}: {exc}")

    def exchange(
        self,
        operation: str,
        port: str,
        action: str,
        envelope: bytes,
        parts: Sequence[OutPart] = (),
        *,
        timeout: float | None = None,
    ) -> Reply:
        """Send one request and return the parsed reply, or raise a typed :class:`XtaClientError`."""
        url = self.peer.port_url(port)
        config = self.config
        deadline = Deadline(config.operation_timeout if timeout is None else timeout, config.seconds_per_mib)
        headers = {"SOAPAction": f'"{action}"', "Accept": "application/soap+xml, multipart/related"}
        body: bytes | _Body
        if parts:
            message = mtom_message(envelope, parts, f"root.message.{uuid.uuid4()}@xoev-gateway")
            deadline.grant(message.content_length)
            headers["Content-Type"] = message.content_type.replace(
                'start-info="application/soap+xml"', f'start-info="application/soap+xml; action=\\"{action}\\""'
            )
            headers["Content-Length"] = str(message.content_length)
            body = _Body(message.chunks(), message.content_length, deadline)
        else:
            headers["Content-Type"] = soap_content_type(action)
            body = envelope
        started = time.monotonic()
        spool = Spool(self.spool_root, config.max_reply_bytes)
        try:
            try:
                response = self.session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=(config.connect_timeout, config.read_timeout),
                    stream=True,
                    allow_redirects=False,
                )
            except (requests.exceptions.RequestException, DeadlineExceeded, OSError) as exc:
                raise self._error(operation, exc) from exc
            try:
                reply = self._read(operation, response, spool, deadline)
            finally:
                response.close()
            log.debug("XTA %s at %s: HTTP %s in %.3f s", operation, url, reply.status, time.monotonic() - started)
            return reply
        except BaseException:
            spool.cleanup()
            raise

    def _read(self, operation: str, response: requests.Response, spool: Spool, deadline: Deadline) -> Reply:
        peer = self.peer.url
        status = response.status_code
        if 300 <= status < 400:
            raise HttpRefused(peer, operation, f"HTTP {status} redirect to {response.headers.get('location')!r}")
        content_type = response.headers.get("content-type", "")
        kind, params = parse_content_type(content_type)
        declared = response.headers.get("content-length", "")
        if declared.isdigit():
            if int(declared) > self.config.max_reply_bytes:
                raise BadReply(peer, operation, f"the reply announces {declared} bytes, over the limit")
            deadline.grant(int(declared))
        data = b""
        attachments: dict[str, Attachment] = {}
        try:
            if kind == "multipart/related" and params.get("boundary"):
                reader = MultipartReader(
                    params["boundary"],
                    params.get("start"),
                    spool,
                    self.config.max_envelope_bytes,
                    self.config.max_parts,
                )
                try:
                    for chunk in response.iter_content(READ_CHUNK):
                        deadline.check()
                        if chunk:
                            reader.feed(chunk)
                finally:
                    reader.close()
                body = reader.finish()
                data, attachments = body.root, dict(body.attachments)
            else:
                buffer = bytearray()
                for chunk in response.iter_content(READ_CHUNK):
                    deadline.check()
                    buffer += chunk
                    if len(buffer) > self.config.max_envelope_bytes:
                        raise BadReply(peer, operation, "the reply envelope is larger than max_envelope_bytes")
                data = bytes(buffer)
        except XtaError as exc:
            raise self._unusable(operation, status, f"unusable MTOM reply: {exc}") from None
        except (requests.exceptions.RequestException, DeadlineExceeded, OSError) as exc:
            raise self._error(operation, exc) from exc
        try:
            envelope = parse_envelope(data, self.config.max_envelope_bytes)
        except XtaError:
            shown = data[:120].decode("utf-8", "replace").strip()
            raise self._unusable(
                operation, status, f"not a SOAP 1.2 envelope ({kind or 'no type'}): {shown!r}"
            ) from None
        fault = read_fault(envelope)
        if fault is not None:
            raise fault_error(peer, operation, fault)
        if not 200 <= status < 300:
            raise self._unusable(operation, status, "a SOAP envelope without Fault")
        return Reply(status, envelope, attachments, spool)

    def _unusable(self, operation: str, status: int, detail: str) -> XtaClientError:
        peer = self.peer.url
        if status >= 500 or status in (408, 429):
            return HttpError(peer, operation, f"HTTP {status}: {detail}")
        if 400 <= status < 500:
            return HttpRefused(peer, operation, f"HTTP {status}: {detail}")
        return BadReply(peer, operation, f"HTTP {status}: {detail}")
