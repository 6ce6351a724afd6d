"""Request envelopes for every XTA 2 operation, rendered by zeep from the shared WSDL.

zeep knows the WSDL's messages, element order and WS-Addressing actions, so requests are built by its
``create_message`` rather than by hand; the WSDL is loaded from ``<schema_dir>/xta/xta2v3`` with strict
settings and a zeep transport that refuses anything but local files (no DTD, no entities, no network).
Two things zeep cannot do are done on the rendered tree: ``wsa:To`` is set to the real port URL (zeep
writes the WSDL's placeholder) and content items get ``xop:Include`` references to MTOM parts instead of
inline base64 (zeep does not send MTOM), so a file is streamed, never base64-encoded in memory.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import zeep
from lxml import etree
from zeep.transports import Transport

from gateway.transport.xta.backend import Content, MessageMeta, PartyId
from gateway.transport.xta.metadata import write_meta
from gateway.transport.xta.mtom import OutPart
from gateway.transport.xta.ns import BINDINGS, OSCIMETA, SOAP12, WSA, XOP, XTA, q
from gateway.transport.xta.schemas import WSDL_NAME

_CONTENT_ATTRIBUTES = (
    ("content_type", "contentType"),
    ("filename", "filename"),
    ("description", "contentDescription"),
    ("encoding", "encoding"),
    ("id", "id"),
    ("lang", "lang"),
)


class _LocalOnly(Transport):
    """A zeep transport that loads the WSDL and its schemas from disk and nothing else."""

    def load(self, url: str) -> bytes:
        if "://" in url and not url.startswith("file://"):
            raise ValueError(f"the XTA WSDL must not reference remote documents ({url})")
        return bytes(super().load(url))  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Request:
    """A rendered request: the operation, its port and action, the envelope bytes and its MTOM parts."""

    operation: str
    port: str
    action: str
    envelope: bytes
    parts: tuple[OutPart, ...] = ()


class Envelopes:
    """Renders requests; one instance per WSDL, shared by every client of the process."""

    def __init__(self, wsdl: Path) -> None:
        settings = zeep.Settings(
            strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False
        )
        transport = _LocalOnly(cache=None)  # type: ignore[no-untyped-call]
        self._client = zeep.Client(str(wsdl), settings=settings, transport=transport)  # type: ignore[no-untyped-call]
        self._services = {
            port: self._client.create_service(binding, "http://placeholder.invalid/" + port)  # type: ignore[no-untyped-call]
            for port, binding in BINDINGS.items()
        }
        self._actions = {
            (port, name): operation.soapaction
            for port, binding in BINDINGS.items()
            for name, operation in self._client.wsdl.bindings[binding]._operations.items()
        }
        self._lock = threading.Lock()

    def action(self, port: str, operation: str) -> str:
        return str(self._actions[(port, operation)])

    def render(
        self, port: str, operation: str, url: str, *args: Any, headers: Sequence[etree._Element] = (), **kwargs: Any
    ) -> etree._Element:
        """The envelope tree of ``operation`` with ``wsa:To`` = ``url`` and a fresh ``wsa:MessageID``."""
        with self._lock:
            envelope: etree._Element = self._client.create_message(  # type: ignore[no-untyped-call]
                self._services[port], operation, *args, _soapheaders=list(headers), **kwargs
            )
        header = envelope.find(q(SOAP12, "Header"))
        assert header is not None  # zeep always writes the addressing headers
        to = header.find(q(WSA, "To"))
        if to is not None:
            to.text = url
        message_id = header.find(q(WSA, "MessageID"))
        if message_id is not None:
            message_id.text = f"urn:uuid:{uuid.uuid4()}"
        return envelope

    def request(
        self,
        port: str,
        operation: str,
        url: str,
        *args: Any,
        headers: Sequence[etree._Element] = (),
        parts: tuple[OutPart, ...] = (),
        **kwargs: Any,
    ) -> Request:
        tree = self.render(port, operation, url, *args, headers=headers, **kwargs)
        return Request(operation, port, self.action(port, operation), serialise(tree), parts)


def serialise(tree: etree._Element) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


@lru_cache(maxsize=4)
def envelopes_for(folder: Path) -> Envelopes:
    """The shared renderer for the XTA bundle in ``folder`` (loading the WSDL takes a few tens of ms)."""
    return Envelopes(folder / WSDL_NAME)


# -- header and body values ------------------------------------------------------------------------------


def author_header(party: PartyId, local: str = "Author") -> etree._Element:
    """``oscimeta:Author`` (the account a Management or MsgBox call acts for)."""
    element = etree.Element(q(OSCIMETA, local), nsmap={"oscimeta": OSCIMETA})
    identifier = etree.SubElement(element, q(OSCIMETA, "Identifier"))
    identifier.text = party.value
    identifier.set("type", party.type)
    if party.name:
        identifier.set("name", party.name)
    if party.category:
        identifier.set("category", party.category)
    return element


def meta_header(meta: MessageMeta) -> etree._Element:
    """``oscimeta:MessageMetaData`` for sendMessage, written in schema order by the server's writer."""
    return write_meta(meta)


def party_value(party: PartyId) -> dict[str, Any]:
    """A PartyType as zeep takes it."""
    identifier: dict[str, Any] = {"_value_1": party.value, "type": party.type}
    if party.name:
        identifier["name"] = party.name
    if party.category:
        identifier["category"] = party.category
    return {"Identifier": identifier}


def message_ids(values: Sequence[str]) -> list[dict[str, str]]:
    return [{"_value_1": v} for v in values]


def _item_value(content: Content) -> dict[str, Any]:
    value: dict[str, Any] = {"_value_1": b""}
    for field, attribute in _CONTENT_ATTRIBUTES:
        found = getattr(content.info, field)
        if found:
            value[attribute] = found
    return value


def container_value(message: Content, attachments: Sequence[Content]) -> dict[str, Any]:
    """The ContentContainer argument for zeep, with empty items (content is added by :func:`attach_content`)."""
    return {"Message": _item_value(message), "Attachment": [_item_value(a) for a in attachments]}


def attach_content(
    tree: etree._Element, items: Sequence[Content], inline_max_bytes: int, domain: str = "xoev-gateway"
) -> tuple[OutPart, ...]:
    """Fill the container's items in order: small ones inline (base64), the others as MTOM parts."""
    body = tree.find(q(SOAP12, "Body"))
    container = (
        body.find(f"{q(XTA, 'GenericContentContainer')}/{q(XTA, 'ContentContainer')}") if body is not None else None
    )
    if container is None:
        raise ValueError("the request has no ContentContainer")
    elements = [e for e in container if e.tag in (q(XTA, "Message"), q(XTA, "Attachment"))]
    if len(elements) != len(items):
        raise ValueError("content items and container elements differ")
    parts: list[OutPart] = []
    for element, content in zip(elements, items, strict=True):
        if content.size <= inline_max_bytes:
            element.text = base64.b64encode(content.path.read_bytes()).decode("ascii")
            continue
        element.text = None
        part = OutPart(f"{uuid.uuid4()}@{domain}", content.path, content.size, "application/octet-stream")
        include = etree.SubElement(element, q(XOP, "Include"), nsmap={"xop": XOP})
        include.set("href", f"cid:{part.content_id}")
        parts.append(part)
    return tuple(parts)
