"""The tree of Schriftgutobjekte (Akte, Teilakte, Vorgang, Teilvorgang, Dokument) of every version.

One pass over each object's children, dispatched on precomputed Clark names, reads the metadata and
descends into the children wherever a version puts them:

* Akte: children in ``Akteninhalt`` (2.x: Dokument|Vorgang; 3.x: Dokument, Vorgang, Teilakte; 4.0.0:
  DokumentOderDokumentMitSchriftstueck, Vorgang, Teilakte); 2.x has ``Teilakte`` beside ``Akteninhalt``.
* Vorgang: Dokument (4.0.0 wrapped in ``DokumentOderDokumentMitSchriftstueck``) and Teilvorgang.
* Dokument: ``Anlage`` (2.x/3.x: itself a Dokument; 4.0.0: a wrapper around Dokument or
  DokumentMitSchriftstueck), 4.0.0 ``DokumentMitSchriftstueck`` with its ``Schriftstueck`` children.
* IDs: ``Identifikation/ID`` (2.x/3.x) or ``Identifikation/xdomeaUUID`` (4.0.0).
* Aussonderungsart/Bewertungsvorschlag: in ``ArchivspezifischeMetadaten`` (2.x/3.x) or
  ``Aussonderungsmetadaten`` (4.0.0); Aussonderungsart is a bare code in 2.x and wrapped in 3.x/4.0.0.

Because the parser also shows invalid messages, it reads whatever of this it finds in whichever place,
instead of insisting on the one shape the version's schema allows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from lxml import etree

from gateway.xoev.model import Code, DocumentVersion, Format, ObjectKind, Primaerdokument, RecordObject
from gateway.xoev.parsing.parse_common import (
    CODE,
    Names,
    child,
    child_text,
    code,
    index,
    text,
    to_bool,
    to_date,
    to_datetime,
)

#: Objects nested deeper than this are not descended into: the safe XML parser bounds depth already;
#: this keeps a tree built elsewhere from exhausting Python's recursion limit.
MAX_OBJECT_DEPTH = 200

_Handler = Callable[[RecordObject, etree._Element, int], None]


def aussonderungsart(el: etree._Element | None, n: Names) -> Code | None:
    """2.x: a bare code; 3.x/4.0.0: ``Aussonderungsart`` or ``AussonderungsartKonfigurierbar`` inside.

    A configurable (free text) value becomes a ``Code`` without list, so it still shows up.
    """
    if el is None:
        return None
    if child(el, CODE) is not None:
        return code(el)
    nested = child(el, n.Aussonderungsart)
    if nested is not None:
        return code(nested)
    free = child_text(el, n.AussonderungsartKonfigurierbar)
    return Code(code=free) if free is not None else None


class ObjectParser:
    """Reads Schriftgutobjekte for one xdomea namespace; build through :func:`object_parser` (cached)."""

    def __init__(self, n: Names) -> None:
        self.n = n
        self.kinds: dict[str, ObjectKind] = {
            n.Akte: ObjectKind.AKTE,
            n.Teilakte: ObjectKind.TEILAKTE,
            n.Vorgang: ObjectKind.VORGANG,
            n.Teilvorgang: ObjectKind.TEILVORGANG,
            n.Dokument: ObjectKind.DOKUMENT,
            n.Schriftstueck: ObjectKind.DOKUMENT,
            n.DokumentMitSchriftstueck: ObjectKind.DOKUMENT,
        }
        #: Elements that only wrap objects: their object children belong to the enclosing object.
        self.wrappers = frozenset({n.Akteninhalt, n.DokumentOderDokumentMitSchriftstueck, n.Schriftgutobjekt})
        self.handlers: dict[str, _Handler] = {
            n.Identifikation: self._identifikation,
            n.Kontextobjekt: self._kontextobjekt,
            n.AllgemeineMetadaten: self._allgemeine_metadaten,
            n.ArchivspezifischeMetadaten: self._aussonderungsmetadaten,
            n.Aussonderungsmetadaten: self._aussonderungsmetadaten,
            n.Typ: self._typ,
            n.Laufzeit: self._laufzeit,
            n.Version: self._version,
            n.Anlage: self._anlage,
        }
        for tag in self.kinds:
            self.handlers[tag] = self._child_object
        for tag in self.wrappers:
            self.handlers[tag] = self._wrapped_objects

    # -- entry points -------------------------------------------------------------------------------------

    def objects_in(self, container: etree._Element, depth: int = 0) -> list[RecordObject]:
        """The objects directly inside ``container`` or inside wrappers in it (Schriftgutobjekt, Hauptobjekt ...)."""
        out: list[RecordObject] = []
        if depth > MAX_OBJECT_DEPTH:
            return out
        for el in container:
            tag = el.tag
            kind = self.kinds.get(tag) if isinstance(tag, str) else None
            if kind is not None:
                out.append(self.parse_object(el, kind, depth + 1))
            elif tag in self.wrappers:
                out.extend(self.objects_in(el, depth + 1))
        return out

    def document_or_objects(self, el: etree._Element, depth: int = 0) -> list[RecordObject]:
        """An element that is a Dokument itself in 2.x/3.x (Anlage, Anschreiben) but wraps one in 4.0.0."""
        if child(el, self.n.Identifikation) is not None:
            return [self.parse_object(el, ObjectKind.DOKUMENT, depth + 1)]
        return self.objects_in(el, depth)

    def parse_object(self, el: etree._Element, kind: ObjectKind, depth: int = 0) -> RecordObject:
        obj = RecordObject(kind=kind, id="")
        if el.tag == self.n.DokumentMitSchriftstueck:
            obj.has_schriftstuecke = True
        handlers = self.handlers
        for item in el:
            tag = item.tag
            handler = handlers.get(tag) if isinstance(tag, str) else None
            if handler is not None:
                handler(obj, item, depth)
        return obj

    # -- handlers, one per child element ------------------------------------------------------------------

    def _identifikation(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        n = self.n
        obj.id = child_text(el, n.ID, n.xdomeaUUID) or ""
        obj.number_in_parent = child_text(el, n.NummerImUebergeordnetenContainer)

    def _kontextobjekt(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        obj.context_object = bool(to_bool(text(el)))

    def _allgemeine_metadaten(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        obj.betreff = child_text(el, self.n.Betreff)
        obj.kennzeichen = child_text(el, self.n.Kennzeichen)

    def _aussonderungsmetadaten(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        n = self.n
        obj.aussonderungsart = aussonderungsart(child(el, n.Aussonderungsart), n)
        obj.bewertungsvorschlag = code(child(el, n.Bewertungsvorschlag))

    def _typ(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        obj.document_type = text(el)

    def _laufzeit(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        obj.laufzeit_begin = to_date(child_text(el, self.n.Beginn))
        obj.laufzeit_end = to_date(child_text(el, self.n.Ende))

    def _version(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        n = self.n
        version = DocumentVersion(number=child_text(el, n.Nummer) or "")
        for fmt in el.iterchildren(n.Format):
            version.formats.append(self._format(fmt))
        obj.versions.append(version)

    def _format(self, el: etree._Element) -> Format:
        n = self.n
        fields = index(el)
        return Format(
            name=code(fields.get(n.Name)) or Code(code=""),
            version=text(fields.get(n.Version)),
            primary=self._primaerdokument(fields.get(n.Primaerdokument)),
            other_name=text(fields.get(n.SonstigerName)),
        )

    def _primaerdokument(self, el: etree._Element | None) -> Primaerdokument | None:
        if el is None:
            return None
        n = self.n
        fields = index(el)
        hash_el = fields.get(n.Hash)
        algorithm = None
        if hash_el is not None:
            algorithm = child_text(child(hash_el, n.Algorithmus), CODE) or child_text(hash_el, n.SonstigerAlgorithmus)
        return Primaerdokument(
            filename=text(fields.get(n.Dateiname)) or "",
            original_filename=text(fields.get(n.DateinameOriginal)),
            created_at=to_datetime(text(fields.get(n.DatumUhrzeit))),
            creator=text(fields.get(n.Ersteller)),
            modified_at=to_datetime(text(fields.get(n.ZeitpunktLetzteAenderung))),
            hash_value=child_text(hash_el, n.Wert),
            hash_algorithm=algorithm,
        )

    def _child_object(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        if depth < MAX_OBJECT_DEPTH:
            obj.children.append(self.parse_object(el, self.kinds[el.tag], depth + 1))

    def _wrapped_objects(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        obj.children.extend(self.objects_in(el, depth + 1))

    def _anlage(self, obj: RecordObject, el: etree._Element, depth: int) -> None:
        for attachment in self.document_or_objects(el, depth + 1):
            attachment.attachment = True
            obj.children.append(attachment)


@lru_cache(maxsize=32)
def object_parser(n: Names) -> ObjectParser:
    return ObjectParser(n)
