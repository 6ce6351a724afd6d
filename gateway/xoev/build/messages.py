"""Build any supported message element from the model: one layout table, one writer per version family.

Messages differ in three things only: which flags follow the Kopf (Importbestaetigung,
RueckmeldungArchivkennung, Empfangsbestaetigung), whether 4.0.0 adds UUIDUrsprungsnachricht and the
per-type sequence, and what the body is (Schriftgutobjekte, an appraisal list, import results or
nothing). The table below states that per message type, so adding one is adding a row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum

from lxml import etree

from gateway.xoev.build.check import ensure_valid
from gateway.xoev.build.common import BuildError, Writer, now_utc
from gateway.xoev.build.naming import message_stem
from gateway.xoev.model import Message, ObjectOutcome
from gateway.xoev.schemas.registry import SchemaRegistry, default_registry

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

#: the messages that open an exchange and carry records, by type code: their element name (the DMS adapters
#: export them, the sample generator writes them; replies to them are built with :mod:`.receipts`)
PRIMARY_TYPES: dict[str, str] = {
    "0101": "Information.Information.0101",
    "0401": "Abgabe.Abgabe.0401",
    "0501": "Aussonderung.Anbieteverzeichnis.0501",
    "0503": "Aussonderung.Aussonderung.0503",
}


class Body(Enum):
    NONE = "none"
    OBJECTS = "objects"  # Anschreiben* + Schriftgutobjekt+
    APPRAISAL = "appraisal"  # 0502 BewertetesObjekt / BewertetesSGO
    IMPORT = "import"  # 0402 AbgegebenesObjekt, 0506 AusgesondertesSGO


@dataclass(frozen=True, slots=True)
class Layout:
    flags: tuple[str, ...] = ()
    #: 4.0.0: UUIDUrsprungsnachricht (the answered message's nachrichtenUUID)
    origin: bool = False
    #: 4.0.0: LfdNrNachrichtProTyp and GesamtanzahlNachrichtenProTyp
    sequence: bool = True
    body: Body = Body.NONE
    #: element name of one result entry for APPRAISAL/IMPORT bodies, per family (3.x, 4.0.0)
    entry: tuple[str, str] = ("", "")
    #: 4.0.0 Aussonderung uses AkteAussonderungType/VorgangAussonderungType (with Kontextobjekt)
    aussonderung: bool = False


_RECEIPT = Layout(origin=True)
LAYOUTS: dict[str, Layout] = {
    "Information.Information.0101": Layout(flags=("Empfangsbestaetigung",), body=Body.OBJECTS),
    "Information.EmpfangBestaetigen.0102": _RECEIPT,
    "Geschaeftsgang.EmpfangBestaetigen.0202": Layout(sequence=False),
    "Abgabe.Abgabe.0401": Layout(flags=("Importbestaetigung", "Empfangsbestaetigung"), body=Body.OBJECTS),
    "Abgabe.ImportBestaetigen.0402": Layout(
        origin=True, body=Body.IMPORT, entry=("AbgegebenesObjekt", "AbgegebenesObjekt")
    ),
    "Abgabe.EmpfangBestaetigen.0403": _RECEIPT,
    "Aussonderung.Anbieteverzeichnis.0501": Layout(
        flags=("Empfangsbestaetigung",), body=Body.OBJECTS, aussonderung=True
    ),
    "Aussonderung.Bewertungsverzeichnis.0502": Layout(
        flags=("Empfangsbestaetigung",), origin=True, body=Body.APPRAISAL, entry=("BewertetesObjekt", "BewertetesSGO")
    ),
    "Aussonderung.Aussonderung.0503": Layout(
        flags=("Importbestaetigung", "RueckmeldungArchivkennung", "Empfangsbestaetigung"),
        body=Body.OBJECTS,
        aussonderung=True,
    ),
    "Aussonderung.AnbietungEmpfangBestaetigen.0504": _RECEIPT,
    "Aussonderung.BewertungEmpfangBestaetigen.0505": _RECEIPT,
    "Aussonderung.AussonderungImportBestaetigen.0506": Layout(
        origin=True, body=Body.IMPORT, entry=("AusgesondertesSGO", "AusgesondertesSGO")
    ),
    "Aussonderung.AussonderungEmpfangBestaetigen.0507": _RECEIPT,
}
#: 3.x allows one Anschreiben in 0101/0401, any number in 0501/0503.
_SINGLE_COVER_LETTER = {"0101", "0401"}


def buildable_elements(version: str, registry: SchemaRegistry | None = None) -> list[str]:
    """Message elements the builder writes for ``version`` (those its schema set declares)."""
    entry = (registry or default_registry()).version(version)
    return sorted(e for e in LAYOUTS if entry.entry_for(e) is not None)


def build_message(
    msg: Message, *, registry: SchemaRegistry | None = None, name: str | None = None, validate: bool = True
) -> etree._ElementTree:
    """The message as an lxml tree, validated by the gateway's full validator (raises :class:`BuildError`).

    ``name`` (a file name) is checked against the version's naming rule too. ``validate=False`` is for
    callers that validate the tree themselves in the same breath (the package writer); never skip it
    otherwise.
    """
    registry = registry or default_registry()
    layout = LAYOUTS.get(msg.element)
    if layout is None:
        raise BuildError(f"building {msg.element} is not supported (supported: {', '.join(sorted(LAYOUTS))})")
    writer = Writer(registry, msg.version)
    if registry.version(msg.version).entry_for(msg.element) is None:
        raise BuildError(f"xdomea {msg.version} has no message {msg.element}")
    root = writer.root(msg.element)
    kopf = msg.kopf
    created = kopf.created_at or now_utc()
    if writer.v4:
        writer.kopf4(root, msg.element, kopf, created, kopf.message_uuid or str(uuid.uuid4()))
        flag_parent = root
    else:
        flag_parent = writer.kopf3(root, msg.element, kopf, created)
    for flag in layout.flags:
        writer.flag(flag_parent, flag, _flag_value(msg, flag))
    if writer.v4:
        if layout.origin:
            if not kopf.origin_message_uuid:
                raise BuildError(f"{msg.element} answers a message: set kopf.origin_message_uuid to its UUID")
            writer.sub(root, "UUIDUrsprungsnachricht", kopf.origin_message_uuid)
        if layout.sequence:
            number, total = kopf.sequence_number or 1, kopf.sequence_total or kopf.sequence_number or 1
            if not 1 <= number <= total:
                raise BuildError(f"LfdNrNachrichtProTyp {number} is outside 1..{total}")
            writer.sub(root, "LfdNrNachrichtProTyp", str(number))
            writer.sub(root, "GesamtanzahlNachrichtenProTyp", str(total))
    if layout.body is Body.OBJECTS:
        _objects(writer, root, msg, layout)
    elif layout.body is Body.APPRAISAL:
        _appraisal(writer, root, msg, layout)
    elif layout.body is Body.IMPORT:
        _import(writer, root, msg, layout)
    tree = etree.ElementTree(root)
    if validate:
        ensure_valid(tree, registry, name=name)
    return tree


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """A validated message: its model, its tree and the file name the naming rule gives it."""

    message: Message
    tree: etree._ElementTree

    @property
    def stem(self) -> str:
        return message_stem(self.message)

    def to_bytes(self) -> bytes:
        return serialize(self.tree)


def build(msg: Message, *, registry: SchemaRegistry | None = None) -> BuiltMessage:
    """Build ``msg`` and check it under the file name the naming rule gives it."""
    tree = build_message(msg, registry=registry, name=message_stem(msg) + ".xml")
    return BuiltMessage(msg, tree)


def serialize(tree: etree._ElementTree, *, pretty: bool = True) -> bytes:
    """UTF-8 with XML declaration, as the xdomea specification asks."""
    return XML_DECLARATION + etree.tostring(tree, encoding="UTF-8", pretty_print=pretty)


def _flag_value(msg: Message, flag: str) -> bool:
    if flag == "Importbestaetigung":
        return True  # fixed to 1 by the schema
    if flag == "RueckmeldungArchivkennung":
        return bool(msg.kopf.archive_id_requested)
    return msg.kopf.receipt_requested


def _objects(writer: Writer, root: etree._Element, msg: Message, layout: Layout) -> None:
    if not msg.objects:
        raise BuildError(f"{msg.element} needs at least one Schriftgutobjekt")
    if len(msg.cover_letters) > 1 and msg.code in _SINGLE_COVER_LETTER:
        raise BuildError(f"{msg.element} carries at most one Anschreiben")
    for letter in msg.cover_letters:
        if writer.v4:
            writer.dokument(root, letter, wrap=True, tag="Anschreiben")
        else:
            writer.dokument(root, letter, wrap=False, tag="Anschreiben")
    for obj in msg.objects:
        holder = writer.sub(root, "Schriftgutobjekt")
        writer.record(holder, obj, aussonderung=layout.aussonderung)


def _outcomes(msg: Message) -> list[ObjectOutcome]:
    if msg.outcomes:
        return msg.outcomes
    return [ObjectOutcome(id=i) for i in msg.referenced_ids]


def _appraisal(writer: Writer, root: etree._Element, msg: Message, layout: Layout) -> None:
    outcomes = _outcomes(msg)
    if not outcomes:
        raise BuildError(f"{msg.element} needs at least one appraised object (outcomes with aussonderungsart)")
    tag = layout.entry[1] if writer.v4 else layout.entry[0]
    for outcome in outcomes:
        if outcome.aussonderungsart is None:
            raise BuildError(f"{msg.element}: object {outcome.id} has no Aussonderungsart")
        el = writer.sub(root, tag)
        writer.sub(el, "xdomeaUUID" if writer.v4 else "ID", outcome.id)
        writer.aussonderungsart(el, outcome.aussonderungsart)


def _import(writer: Writer, root: etree._Element, msg: Message, layout: Layout) -> None:
    outcomes = _outcomes(msg)
    tag = layout.entry[1] if writer.v4 else layout.entry[0]
    archive = msg.code == "0506"
    if writer.v4:
        overall = msg.success if msg.success is not None else all(o.success is not False for o in outcomes)
        _result(writer, writer.sub(root, "ErfolgOderMisserfolg"), overall, msg.errors)
        for outcome in outcomes:
            el = writer.sub(root, tag)
            writer.sub(el, "xdomeaUUID", outcome.id)
            _result(writer, writer.sub(el, "ErfolgOderMisserfolg"), outcome.success, outcome.errors, outcome)
            if archive:
                writer.opt(el, "Archivkennung", outcome.archive_id)
        return
    if not outcomes:
        raise BuildError(f"xdomea {writer.version} {msg.element} needs a result for at least one object")
    for outcome in outcomes:
        el = writer.sub(root, tag)
        writer.sub(el, "IDSGO", outcome.id)
        _result(writer, el, outcome.success, outcome.errors, outcome)
        if archive:
            writer.opt(el, "Archivkennung", outcome.archive_id)


def _result(
    writer: Writer, el: etree._Element, success: bool | None, errors: list[str], outcome: ObjectOutcome | None = None
) -> None:
    """Erfolgreich, Fehlermeldung*, FehlermeldungCode*: success unless explicitly False."""
    writer.flag(el, "Erfolgreich", success is not False)
    for text in errors:
        writer.sub(el, "Fehlermeldung", text)
    if outcome is not None:
        for code in outcome.error_codes:
            if not (code.list_uri and code.list_version):
                raise BuildError(f"FehlermeldungCode {code.code} of {outcome.id} needs listURI and listVersionID")
            writer.code(el, "FehlermeldungCode", "SonstigeFehlermeldungCodeType", code)
