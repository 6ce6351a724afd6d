"""Any xdomea message (2.3.0, 2.4.0, 3.0.0, 3.1.0, 4.0.0) into the version-independent :class:`Message`.

The parser works on the structure it finds, not on what the version's schema promises: it also runs on
messages that failed validation, to show people what they sent. Missing mandatory parts become None or
empty values; only a root element outside every xdomea namespace is refused, with :class:`NotXdomea`.
A namespace of an unknown xdomea version is read the same way (the version string is kept as found).

Header: :mod:`gateway.xoev.parsing.parse_kopf`; Schriftgutobjekte: :mod:`gateway.xoev.parsing.parse_objects`; the ids
receipts answer for: :mod:`gateway.xoev.parsing.parse_receipts`.
"""

from __future__ import annotations

from lxml import etree

from gateway.xoev.model import Message, RecordObject
from gateway.xoev.parsing.parse_common import local_name, names_for
from gateway.xoev.parsing.parse_kopf import parse_kopf
from gateway.xoev.parsing.parse_objects import object_parser
from gateway.xoev.parsing.parse_receipts import parse_overall, parse_reference, reference_tags

NAMESPACE_PREFIX = "urn:xoev-de:xdomea:schema:"
SUPPORTED_VERSIONS = ("2.3.0", "2.4.0", "3.0.0", "3.1.0", "4.0.0")


class NotXdomea(ValueError):
    """The document's root element is not in an xdomea namespace (``urn:xoev-de:xdomea:schema:<version>``)."""


def xdomea_version(root: etree._Element) -> str | None:
    """The version named by the root element's namespace, or None when it is not an xdomea namespace."""
    tag = root.tag
    if not isinstance(tag, str) or not tag.startswith("{" + NAMESPACE_PREFIX):
        return None
    version = tag[1 + len(NAMESPACE_PREFIX) : tag.find("}")]
    return version or None


def parse_message(tree: etree._ElementTree | etree._Element) -> Message:
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    version = xdomea_version(root)
    if version is None:
        raise NotXdomea(
            f"the root element {root.tag!r} is not an xdomea message: "
            f"its namespace must be {NAMESPACE_PREFIX}<version> (one of {', '.join(SUPPORTED_VERSIONS)})"
        )
    n = names_for(NAMESPACE_PREFIX + version)
    objects = object_parser(n)
    references = reference_tags(n)
    message = Message(version=version, element=local_name(root.tag), kopf=parse_kopf(root, n))
    for el in root:
        tag = el.tag
        if tag == n.Schriftgutobjekt or tag == n.Hauptobjekt:
            message.objects.extend(objects.objects_in(el))
        elif tag == n.Anlage:
            message.objects.extend(_as_attachments(objects.document_or_objects(el)))
        elif tag == n.Anschreiben:
            message.cover_letters.extend(objects.document_or_objects(el))
        elif tag in references:
            message.outcomes.append(parse_reference(el, n))
        elif tag == n.ErfolgOderMisserfolg:
            overall = parse_overall(el, n)
            message.success = overall.success
            message.errors = overall.errors
            message.outcomes.extend(overall.outcomes)
    message.referenced_ids = [outcome.id for outcome in message.outcomes if outcome.id]
    return message


def _as_attachments(items: list[RecordObject]) -> list[RecordObject]:
    for item in items:
        item.attachment = True
    return items
