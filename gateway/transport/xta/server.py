"""The XTA 2 ports as a FastAPI router: WSDL and schemas by GET, operations by POST.

A POST goes: identity first (an unknown caller is refused before its body is read, so nobody can make
the server spool gigabytes anonymously), then the body -- plain SOAP read into memory up to the envelope
limit, or MTOM streamed through :class:`~.mtom.MultipartReader` into a per-request spool -- then the
envelope, the action and the operation, which must belong to the port the request was sent to. The
event loop only receives bytes: everything that blocks or costs CPU (spool files, the rest of the MIME
parsing, the envelope, the backend, the reply envelope) runs in one worker thread per request, so a
small request costs one thread hop. Every outcome is a SOAP envelope: 200 for results (void operations
included) and a SOAP 1.2 Fault for errors -- 400 when the request is at fault (``env:Sender``), 500 when
the server is (``env:Receiver``), 408 with ``Connection: close`` when the body stopped arriving (the
server's body guard timed out) -- never an empty or plain-text answer.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from lxml import etree

from gateway.config import Settings, XtaServer
from gateway.transport.xta.addressing import (
    Addressing,
    action_of_content_type,
    read_addressing,
    reply_headers,
    resolve_action,
    soap_action_header,
)
from gateway.transport.xta.backend import XtaBackend
from gateway.transport.xta.errors import ErrorCode, ParameterInvalid, PermissionDenied, TechnicalProblem, XtaError
from gateway.transport.xta.faults import fault_envelope, fault_status
from gateway.transport.xta.identity import CallerIdentity, identify
from gateway.transport.xta.mtom import Attachment, MultipartReader, mtom_message, new_content_id, parse_content_type
from gateway.transport.xta.ns import PORTS
from gateway.transport.xta.operations import OPERATIONS, Context, Operation, Reply, SoapRequest
from gateway.transport.xta.schemas import WSDL_NAME, bundle_dir, load_schemas
from gateway.transport.xta.soap import build_envelope, parse_envelope
from gateway.transport.xta.spool import Spool

log = logging.getLogger(__name__)

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_WSDL_SOAP12_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"

CallerResult = CallerIdentity | PermissionDenied
#: rendered WSDLs kept for distinct base URLs (one suffices with xta_server.public_url)
WSDL_CACHE_SIZE = 8


def caller_dependency(config: XtaServer) -> Callable[[Request], Awaitable[CallerResult]]:
    """The FastAPI dependency establishing the caller; an error is returned, not raised, to become a fault.

    Async, so that it runs on the event loop: a sync dependency would cost every request a hop to the
    thread pool, and the work is small (certificates are parsed once, :func:`identify`'s cache).
    """

    async def caller(request: Request) -> CallerResult:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            return identify(dict(request.scope), headers, config)
        except PermissionDenied as exc:
            return exc

    return caller


def _soap_response(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type=SOAP_CONTENT_TYPE)


def _fault(error: XtaError, operation: Operation | None, addressing: Addressing | None, config: XtaServer) -> Response:
    relates = addressing.message_id if addressing else None
    action = operation.action if operation else None
    status = fault_status(error, config.sender_fault_status)
    return _soap_response(fault_envelope(error, action, relates), status)


#: MTOM bytes collected on the event loop before a worker thread parses them (and writes spool files)
FEED_BATCH = 256 * 1024
#: the HTTP status of the fault for a request body that stopped arriving (Request Timeout)
BODY_INCOMPLETE_STATUS = 408


class BodyIncomplete(Exception):
    """The request body stopped arriving: the server's body guard timed out, or the client went away."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def _body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks; a failure to *receive* them becomes :class:`BodyIncomplete`.

    Receiving fails when the ASGI server's body guard gives up on a stalled or too slow body
    (``gateway.api.middleware.BodyTimeout``, raised from ``receive``) or when the client disconnects;
    either way the request never arrived, which is the client's matter, not an internal error. Errors of
    whatever consumes the chunks are not touched.
    """
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise BodyIncomplete(f"the request body did not arrive: {detail}") from exc
        if chunk:
            yield chunk


def _parse_all(reader: MultipartReader, chunks: list[bytes]) -> None:
    for chunk in chunks:
        reader.parse(chunk)


class _PlainBody:
    """A plain SOAP request: the envelope bytes and the action the Content-Type names."""

    def __init__(self, data: bytes, hint: str) -> None:
        self.data = data
        self.hint = hint

    def finish(self) -> tuple[bytes, str, dict[str, Attachment]]:
        return self.data, self.hint, {}


class _MtomBody:
    """An MTOM request whose last batch of chunks is still to be parsed (in the worker thread)."""

    def __init__(self, reader: MultipartReader, rest: list[bytes], content_type: str) -> None:
        self.reader = reader
        self.rest = rest
        self.content_type = content_type

    def finish(self) -> tuple[bytes, str, dict[str, Attachment]]:
        """The envelope, the action hint and the spooled attachments."""
        try:
            _parse_all(self.reader, self.rest)
        finally:
            self.reader.close()
        body = self.reader.finish()
        hint = resolve_action(
            [action_of_content_type(self.content_type), action_of_content_type(body.root_content_type)]
        )
        return body.root, hint or "", dict(body.attachments)


_Body = _PlainBody | _MtomBody


class _Wsdl:
    """The WSDL with each port's placeholder address replaced, cached per base URL.

    Without ``xta_server.public_url`` the base comes from the request's Host header, which any
    unauthenticated caller chooses: the cache keeps only the :data:`WSDL_CACHE_SIZE` most recently used
    bases (2,000 distinct Hosts once grew an unbounded cache by 66 MiB). With ``public_url`` set there
    is one base and one entry.
    """

    def __init__(self, folder: Path) -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        self._tree = etree.parse(str(folder / WSDL_NAME), parser)
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    def render(self, base: str) -> bytes:
        cached = self._cache.get(base)
        if cached is not None:
            self._cache.move_to_end(base)
            return cached
        tree = copy.deepcopy(self._tree)
        for port in tree.iter(f"{{{_WSDL_NS}}}port"):
            for address in port.iter(f"{{{_WSDL_SOAP12_NS}}}address"):
                address.set("location", f"{base}/{port.get('name')}")
        cached = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
        self._cache[base] = cached
        while len(self._cache) > WSDL_CACHE_SIZE:
            self._cache.popitem(last=False)
        return cached


class XtaService:
    """The state behind the router: backend, schemas, settings."""

    def __init__(self, backend: XtaBackend, settings: Settings) -> None:
        self.config = settings.xta_server
        self.folder = bundle_dir(settings.schema_dir)
        self.context = Context(backend, load_schemas(self.folder), self.config.server_identity)
        self.spool_root = self.config.spool_dir or settings.data_dir / "xta-spool"
        self.spool_root.mkdir(parents=True, exist_ok=True, mode=0o700)  # once, not per request
        # no content item larger than the largest message the pipeline takes is spooled (issue 10, item 9)
        self.max_item_bytes = min(self.config.max_request_bytes, settings.pipeline.max_submit_bytes)
        self.wsdl = _Wsdl(self.folder)
        # every schema beside the WSDL, including the dotfile ".xsd" (the SOAP envelope schema)
        self.resources = {p.name for p in self.folder.iterdir() if p.is_file() and p.name.endswith(".xsd")}

    def base_url(self, request: Request) -> str:
        root = self.config.public_url or str(request.base_url)
        return root.rstrip("/") + self.config.base_path.rstrip("/")

    async def read_request(self, request: Request, spool: Spool) -> _Body:
        """The request body, read on the event loop without blocking it.

        Plain SOAP is collected in memory up to the envelope limit. MTOM is counted against the spool's
        budget as it arrives and handed to the multipart reader in batches of :data:`FEED_BATCH` bytes in a
        worker thread (the reader writes spool files), so memory stays bounded whatever the body's size and
        a small body costs no thread hop of its own: its last batch is parsed with the request itself.
        """
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.config.max_request_bytes:
            raise ParameterInvalid(
                ErrorCode.MESSAGE_TOO_LARGE, f"the request exceeds the limit of {self.config.max_request_bytes} bytes"
            )
        content_type = request.headers.get("content-type", "")
        kind, params = parse_content_type(content_type)
        if kind == "multipart/related":
            boundary = params.get("boundary")
            if not boundary:
                raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, "multipart/related without boundary")
            reader = MultipartReader(
                boundary, params.get("start"), spool, self.config.max_envelope_bytes, self.config.max_parts
            )
            batch: list[bytes] = []
            size = 0
            try:
                async for chunk in _body_chunks(request):
                    spool.charge(len(chunk))
                    batch.append(chunk)
                    size += len(chunk)
                    if size >= FEED_BATCH:
                        await anyio.to_thread.run_sync(_parse_all, reader, batch)
                        batch, size = [], 0
            except BaseException:
                reader.close()
                raise
            return _MtomBody(reader, batch, content_type)
        if kind not in ("application/soap+xml", "text/xml", ""):
            raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, f"unsupported Content-Type {kind!r}")
        buffer = bytearray()
        async for chunk in _body_chunks(request):
            buffer += chunk
            if len(buffer) > self.config.max_envelope_bytes:
                raise ParameterInvalid(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"the SOAP envelope exceeds {self.config.max_envelope_bytes} bytes; send content as MTOM",
                )
        return _PlainBody(bytes(buffer), action_of_content_type(content_type) or "")

    def reply(self, operation: Operation, addressing: Addressing, reply: Reply) -> Response:
        headers = reply_headers(operation.action, addressing.message_id) + reply.headers
        envelope = build_envelope(headers, reply.body)
        if not reply.parts:
            return _soap_response(envelope)
        message = mtom_message(envelope, reply.parts, new_content_id("root.message"))
        return StreamingResponse(
            message.chunks(),
            media_type=message.content_type,
            headers={"Content-Length": str(message.content_length)},
        )

    def process(
        self, port: str, body: _Body, soap_action: str | None, spool: Spool, caller: CallerIdentity
    ) -> Response:
        """Everything after the body has arrived, in one worker thread: the rest of the MIME parsing, the
        envelope, the operation, the backend and the reply envelope. The spool is emptied before it returns.
        """
        operation: Operation | None = None
        addressing: Addressing | None = None
        try:
            data, hint, attachments = body.finish()
            envelope = parse_envelope(data, self.config.max_envelope_bytes)
            addressing = read_addressing(envelope)
            action = resolve_action([addressing.action, soap_action, hint])
            operation = OPERATIONS.get(action or "")
            if operation is None or operation.port != port:
                raise ParameterInvalid(ErrorCode.INVALID_URI, f"action {action!r} is not an operation of {port}")
            soap_request = SoapRequest(operation.action, envelope, addressing, attachments, spool, caller)
            return self.reply(operation, addressing, operation.handler(self.context, soap_request))
        except XtaError as exc:
            return _fault(exc, operation, addressing, self.config)
        except Exception:
            log.exception("XTA %s failed", operation.name if operation else port)
            return _fault(TechnicalProblem(ErrorCode.INTERNAL_ERROR), operation, addressing, self.config)
        finally:
            spool.cleanup()

    async def handle(self, port: str, request: Request, caller: CallerResult) -> Response:
        if isinstance(caller, PermissionDenied):
            return _fault(caller, None, None, self.config)
        spool = Spool(self.spool_root, self.config.max_request_bytes, self.max_item_bytes)
        try:
            if port not in PORTS:
                raise ParameterInvalid(ErrorCode.INVALID_URI, f"no XTA port {port!r}")
            body = await self.read_request(request, spool)
            soap_action = soap_action_header(request.headers.get("soapaction"))
            return await anyio.to_thread.run_sync(self.process, port, body, soap_action, spool, caller)
        except XtaError as exc:
            return _fault(exc, None, None, self.config)
        except BodyIncomplete as exc:
            log.warning("XTA %s: %s", port, exc.detail)
            error = ParameterInvalid(ErrorCode.UNSPECIFIED, exc.detail)
            response = _soap_response(fault_envelope(error, None, None), BODY_INCOMPLETE_STATUS)
            response.headers["Connection"] = "close"  # the rest of the body is not read: the connection is spent
            return response
        except Exception:
            log.exception("XTA %s failed", port)
            return _fault(TechnicalProblem(ErrorCode.INTERNAL_ERROR), None, None, self.config)
        finally:
            if spool.files:  # only when the body failed before it was processed
                await anyio.to_thread.run_sync(spool.cleanup)


def xta_router(backend: XtaBackend, settings: Settings) -> APIRouter:
    """The three XTA ports below ``settings.xta_server.base_path``, backed by ``backend``."""
    service = XtaService(backend, settings)
    caller = caller_dependency(service.config)
    router = APIRouter()
    base = service.config.base_path.rstrip("/")

    @router.get(base + "/{name}", include_in_schema=False)
    async def resource(name: str, request: Request) -> Response:
        if name in PORTS and any(k.lower() == "wsdl" for k in request.query_params):
            return Response(service.wsdl.render(service.base_url(request)), media_type="text/xml; charset=utf-8")
        if name in service.resources:
            return Response((service.folder / name).read_bytes(), media_type="text/xml; charset=utf-8")
        return Response(status_code=404)

    @router.post(base + "/{port}", include_in_schema=False)
    async def soap(port: str, request: Request, identity: CallerResult = Depends(caller)) -> Response:  # noqa: B008
        return await service.handle(port, request, identity)

    return router
