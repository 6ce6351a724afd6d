"""``xta:GenericContentContainer``: the message and its attachments, to and from files.

Incoming, each ``Message``/``Attachment`` item either references an MTOM part (``xop:Include``), which is
already a spool file, or holds inline base64, which is decoded into a spool file piece by piece. The
item's text is then emptied so that the container can be checked against the schema without dragging
the content along (an empty ``base64Binary`` is valid). Outgoing, every item gets its own MTOM part and
an ``xop:Include``, keeping ``contentType``, ``filename`` and the other attributes clients rely on.
"""

from __future__ import annotations

from lxml import etree

from gateway.transport.xta.backend import Content, ContentInfo
from gateway.transport.xta.errors import ErrorCode, ParameterInvalid
from gateway.transport.xta.mtom import Attachment, Base64Writer, OutPart, cid_of_href, new_content_id
from gateway.transport.xta.ns import XOP, XTA, q
from gateway.transport.xta.soap import new_element, sub
from gateway.transport.xta.spool import Spool

_ATTRIBUTES = (
    ("content_type", "contentType"),
    ("filename", "filename"),
    ("description", "contentDescription"),
    ("encoding", "encoding"),
    ("id", "id"),
    ("lang", "lang"),
)
_INLINE_CHUNK = 1 << 20


def _info(item: etree._Element) -> ContentInfo:
    return ContentInfo(
        content_type=item.get("contentType", ""),
        filename=item.get("filename"),
        description=item.get("contentDescription"),
        encoding=item.get("encoding"),
        id=item.get("id"),
        lang=item.get("lang"),
    )


def _read_item(item: etree._Element, attachments: dict[str, Attachment], spool: Spool) -> Content:
    include = item.find(q(XOP, "Include"))
    if include is not None:
        cid = cid_of_href(include.get("href", ""))
        part = attachments.pop(cid, None) if cid is not None else None
        if part is None:
            raise ParameterInvalid(
                ErrorCode.INVALID_PARAMETER_COMBINATION, f"xop:Include {include.get('href')!r} names no MIME part"
            )
        item.remove(include)
        return Content(_info(item), part.path, part.size)
    if len(item):
        raise ParameterInvalid(ErrorCode.INVALID_PARAMETER_COMBINATION, "content item with unexpected child elements")
    text = item.text or ""
    path, handle = spool.new_file()
    with handle:
        decoder = Base64Writer(handle)
        for start in range(0, len(text), _INLINE_CHUNK):
            decoder.write(text[start : start + _INLINE_CHUNK].encode("ascii", errors="replace"))
        decoder.close()
    item.text = None
    return Content(_info(item), path, decoder.written)


def read_container(
    container: etree._Element, attachments: dict[str, Attachment], spool: Spool
) -> tuple[Content, tuple[Content, ...]]:
    """The message and attachments of a request's container, as spool files (the container is emptied)."""
    content = container.find(q(XTA, "ContentContainer"))
    if content is None:
        raise ParameterInvalid(
            ErrorCode.INVALID_PARAMETER_COMBINATION, "only unencrypted ContentContainer content is accepted"
        )
    message = content.find(q(XTA, "Message"))
    if message is None:
        raise ParameterInvalid(ErrorCode.NO_PARAMETERS, "ContentContainer has no Message")
    first = _read_item(message, attachments, spool)
    rest = tuple(_read_item(a, attachments, spool) for a in content.findall(q(XTA, "Attachment")))
    return first, rest


def _write_item(parent: etree._Element, local: str, content: Content, domain: str) -> OutPart:
    item = sub(parent, XTA, local)
    for field, attribute in _ATTRIBUTES:
        value = getattr(content.info, field)
        if value:
            item.set(attribute, value)
    if content.size > 0:
        item.set("size", str(content.size))
    part = OutPart(new_content_id(domain), content.path, content.size)
    sub(item, XOP, "Include").set("href", f"cid:{part.content_id}")
    return part


def write_container(
    message: Content, attachments: tuple[Content, ...], domain: str = "xoev-gateway"
) -> tuple[etree._Element, list[OutPart]]:
    """A container referencing one MTOM part per item, and those parts in order."""
    root = new_element(XTA, "GenericContentContainer")
    content = sub(root, XTA, "ContentContainer")
    parts = [_write_item(content, "Message", message, domain)]
    parts.extend(_write_item(content, "Attachment", a, domain) for a in attachments)
    return root, parts
