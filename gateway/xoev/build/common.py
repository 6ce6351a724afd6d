"""The pieces every built message shares: element writing, codes, Kopf, parties and Schriftgutobjekte.

xdomea 3.0.0 and 3.1.0 share one Baukasten (the files are identical but for the namespace); 4.0.0 moved
the header into the XÖV Basisnachricht ``nachrichtenkopf``, renamed ``ID`` to ``xdomeaUUID``, wrapped
Dokumente in ``DokumentOderDokumentMitSchriftstueck`` and gave Aussonderung its own Akte/Vorgang types
with a mandatory ``Kontextobjekt``. :class:`Writer` hides those differences behind one set of calls.
The XSD fixes element order, so children are written in schema order, not in the model's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from lxml import etree

from gateway import __version__
from gateway.xoev.build.codes import FALLBACK_LIST_VERSIONS, VersionCodes, version_codes
from gateway.xoev.model import Code, Format, Kopf, ObjectKind, Party, RecordObject, SendingSystem
from gateway.xoev.report import Finding
from gateway.xoev.schemas.catalogue import NAMESPACE_PREFIX
from gateway.xoev.schemas.registry import SchemaRegistry

#: Versions the builder writes. 2.x uses another Baukasten (Latin-only strings, other Akte layout).
BUILD_VERSIONS = ("3.0.0", "3.1.0", "4.0.0")
VERZEICHNISDIENST_URI = "urn:xoev-de:kosit:codeliste:verzeichnisdienst"
DEFAULT_SYSTEM = SendingSystem(product="xoev-gateway", manufacturer="xoev-gateway contributors", version=__version__)


class BuildError(ValueError):
    """The model cannot be written as a valid message; the text says what to change.

    ``findings`` holds the validator's findings when the built tree failed validation (a bug in the
    builder or a model value the schema forbids, e.g. a Dateiname that does not start with a UUID).
    """

    def __init__(self, message: str, findings: Sequence[Finding] = ()) -> None:
        self.findings = list(findings)
        if self.findings:
            message += "".join(f"\n  {f.rule} {f.location}: {f.message}" for f in self.findings)
        super().__init__(message)


def format_datetime(value: datetime) -> str:
    """xs:dateTime; UTC as ``Z``, sub-second precision only when present (milliseconds)."""
    spec = "milliseconds" if value.microsecond else "seconds"
    text = value.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Writer:
    """Writes elements of one xdomea version, qualified with the mandatory ``xdomea`` prefix."""

    def __init__(self, registry: SchemaRegistry, version: str) -> None:
        if version not in BUILD_VERSIONS:
            raise BuildError(f"building xdomea {version} is not supported (supported: {', '.join(BUILD_VERSIONS)})")
        self.registry = registry
        self.version = version
        self.ns = NAMESPACE_PREFIX + version
        self.v4 = version.startswith("4.")
        self.codes: VersionCodes = version_codes(registry, version)

    # -- primitives ----------------------------------------------------------------------------------

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def root(self, element: str) -> etree._Element:
        return etree.Element(self.q(element), nsmap={"xdomea": self.ns})

    def sub(
        self, parent: etree._Element, name: str, text: str | None = None, *, qualified: bool = True
    ) -> etree._Element:
        el = etree.SubElement(parent, self.q(name) if qualified else name)
        if text is not None:
            el.text = text
        return el

    def opt(self, parent: etree._Element, name: str, text: str | None) -> None:
        if text is not None and text != "":
            self.sub(parent, name, text)

    def flag(self, parent: etree._Element, name: str, value: bool) -> None:
        # "1"/"0": libxml2 compares fixed booleans lexically and the schema fixes Importbestaetigung to "1"
        self.sub(parent, name, "1" if value else "0")

    def timestamp(self, parent: etree._Element, name: str, value: datetime | None) -> None:
        if value is not None:
            self.sub(parent, name, format_datetime(value))

    def day(self, parent: etree._Element, name: str, value: date | None) -> None:
        if value is not None:
            self.sub(parent, name, value.isoformat())

    def code(
        self, parent: etree._Element, name: str, type_name: str, value: Code | str, *, qualified: bool = True
    ) -> etree._Element:
        """A code element with the list attributes the schema fixes and a name where the schema allows one."""
        given = value if isinstance(value, Code) else Code(value)
        spec = self.codes.spec(type_name)
        el = self.sub(parent, name, qualified=qualified)
        list_uri = spec.list_uri or given.list_uri
        if list_uri:
            el.set("listURI", list_uri)
        list_version = self.codes.list_version(type_name, given.list_version)
        if list_version:
            el.set("listVersionID", list_version)
        etree.SubElement(el, "code").text = given.code
        if spec.allows_name:
            label = given.name or self.codes.name_of(type_name, given.code)
            if label:
                etree.SubElement(el, "name").text = label
        return el

    # -- parties -------------------------------------------------------------------------------------

    def party(self, parent: etree._Element, name: str, party: Party | None, role: str) -> None:
        if party is None or not (party.institution or party.organisation_unit or party.person or party.authority_id):
            raise BuildError(f"the {role} ({name}) must name an institution, unit, person or authority key")
        el = self.sub(parent, name)
        if self.v4:
            self._party4(el, party)
        else:
            self._party3(el, party)

    def _party3(self, el: etree._Element, party: Party) -> None:
        if party.authority_id:
            auth = self.sub(el, "Behoerdenkennung")
            key = self.sub(auth, "Behoerdenschluessel")
            etree.SubElement(key, "code").text = party.authority_id
            if party.authority_prefix:
                prefix = self.sub(auth, "Praefix")
                etree.SubElement(prefix, "code").text = party.authority_prefix
        self._names(el, party, "Institution", "Organisationseinheit", "Name")

    def _party4(self, el: etree._Element, party: Party) -> None:
        if party.authority_id:
            auth = self.sub(el, "Behoerdenkennung")
            directory = self.sub(auth, "verzeichnisdienst")
            directory.set("listVersionID", FALLBACK_LIST_VERSIONS[VERZEICHNISDIENST_URI])
            etree.SubElement(directory, "code").text = party.directory or "DVDV"
            self.sub(auth, "kennung", party.xoev_identifier or party.authority_id)
        self._names(el, party, "NameInstitution", "NameOrganisationseinheit", "NameAnsprechpartner")

    def _names(self, el: etree._Element, party: Party, institution: str, unit: str, person: str) -> None:
        if party.institution or party.institution_short:
            inst = self.sub(el, institution)
            self.opt(inst, "Name", party.institution)
            self.opt(inst, "Kurzbezeichnung", party.institution_short)
        if party.organisation_unit:
            self.sub(self.sub(el, unit), "Name", party.organisation_unit)
        if party.person:
            given, _, family = party.person.strip().rpartition(" ")
            pers = self.sub(el, person)
            self.sub(self.sub(pers, "Familienname"), "Name", family)
            if given:
                self.sub(self.sub(pers, "Vorname"), "Name", given)

    # -- Kopf ----------------------------------------------------------------------------------------

    def message_type(self, element: str, kopf: Kopf) -> Code:
        code = element.rsplit(".", 1)[-1]
        declared = kopf.message_type.code.strip() if kopf.message_type else code
        if declared and declared != code:
            raise BuildError(f"the Kopf declares Nachrichtentyp {declared} but the message element is {element}")
        return Code(code, self.codes.message_type_name(element))

    def kopf3(self, root: etree._Element, element: str, kopf: Kopf, created: datetime) -> etree._Element:
        el = self.sub(root, "Kopf")
        self.sub(el, "ProzessID", kopf.process_id)
        self.code(el, "Nachrichtentyp", "NachrichtentypCodeType", self.message_type(element, kopf))
        self.timestamp(el, "Erstellungszeitpunkt", created)
        self.party(el, "Absender", kopf.sender, "sender")
        self.party(el, "Empfaenger", kopf.recipient, "recipient")
        system = kopf.sending_system or DEFAULT_SYSTEM
        sys_el = self.sub(el, "SendendesSystem")
        self.opt(sys_el, "InstanzID", system.instance_id)
        self.opt(sys_el, "Produktname", system.product)
        self.opt(sys_el, "Version", system.version)
        self.opt(el, "Hinweis", kopf.note)
        return el

    def kopf4(
        self, root: etree._Element, element: str, kopf: Kopf, created: datetime, message_uuid: str
    ) -> etree._Element:
        system = kopf.sending_system or DEFAULT_SYSTEM
        root.set("produkt", system.product or DEFAULT_SYSTEM.product or "xoev-gateway")
        root.set("produkthersteller", system.manufacturer or DEFAULT_SYSTEM.manufacturer or "xoev-gateway")
        if system.version:
            root.set("produktversion", system.version)
        root.set("standard", "xdomea")
        root.set("version", self.version)
        el = self.sub(root, "nachrichtenkopf")
        ident = self.sub(el, "identifikation.nachricht")
        self.sub(ident, "nachrichtenUUID", message_uuid, qualified=False)
        self.code(ident, "nachrichtentyp", "NachrichtentypCodeType", self.message_type(element, kopf), qualified=False)
        self.sub(ident, "erstellungszeitpunkt", format_datetime(created), qualified=False)
        self.party(el, "leser", kopf.recipient, "recipient")
        self.party(el, "autor", kopf.sender, "sender")
        self.sub(el, "ProzessID", kopf.process_id)
        self.opt(el, "InstanzID", system.instance_id)
        self.opt(el, "Hinweis", kopf.note)
        return el

    # -- Schriftgutobjekte ---------------------------------------------------------------------------

    def record(self, parent: etree._Element, obj: RecordObject, *, aussonderung: bool) -> None:
        """A top-level Schriftgutobjekt (the caller has written the ``Schriftgutobjekt`` wrapper)."""
        kind = obj.kind
        if kind in (ObjectKind.AKTE, ObjectKind.TEILAKTE):
            self.akte(parent, "Akte", obj, aussonderung=aussonderung)
        elif kind in (ObjectKind.VORGANG, ObjectKind.TEILVORGANG):
            self.vorgang(parent, "Vorgang", obj, aussonderung=aussonderung)
        elif aussonderung and self.v4:
            raise BuildError(
                f"xdomea {self.version} Aussonderung messages carry Akten and Vorgänge only; "
                f"Dokument {obj.id} must sit inside one (mark the parent as Kontextobjekt)"
            )
        else:
            self.dokument(parent, obj, wrap=self.v4)

    def _identification(self, el: etree._Element, obj: RecordObject) -> None:
        ident = self.sub(el, "Identifikation")
        self.sub(ident, "xdomeaUUID" if self.v4 else "ID", obj.id)
        if obj.number_in_parent is not None:
            if not obj.number_in_parent.isdigit():
                raise BuildError(f"NummerImUebergeordnetenContainer of {obj.id} must be a number")
            self.sub(ident, "NummerImUebergeordnetenContainer", obj.number_in_parent)

    def _general(self, el: etree._Element, obj: RecordObject) -> None:
        if obj.betreff or obj.kennzeichen:
            meta = self.sub(el, "AllgemeineMetadaten")
            self.opt(meta, "Betreff", obj.betreff)
            self.opt(meta, "Kennzeichen", obj.kennzeichen)

    def _disposal(self, el: etree._Element, obj: RecordObject) -> None:
        if obj.aussonderungsart is None and obj.bewertungsvorschlag is None:
            return
        meta = self.sub(el, "Aussonderungsmetadaten" if self.v4 else "ArchivspezifischeMetadaten")
        if obj.aussonderungsart is not None:
            self.aussonderungsart(meta, obj.aussonderungsart)
        if obj.bewertungsvorschlag is not None:
            self.code(meta, "Bewertungsvorschlag", "BewertungsvorschlagCodeType", obj.bewertungsvorschlag)

    def aussonderungsart(self, parent: etree._Element, value: Code) -> None:
        """AussonderungsartType: a choice whose coded branch is again called Aussonderungsart."""
        self.code(self.sub(parent, "Aussonderungsart"), "Aussonderungsart", "AussonderungsartCodeType", value)

    def _laufzeit(self, el: etree._Element, obj: RecordObject) -> None:
        if obj.laufzeit_begin or obj.laufzeit_end:
            period = self.sub(el, "Laufzeit")
            self.day(period, "Beginn", obj.laufzeit_begin)
            self.day(period, "Ende", obj.laufzeit_end)

    def _context(self, el: etree._Element, obj: RecordObject, aussonderung: bool) -> None:
        if self.v4 and aussonderung:
            self.flag(el, "Kontextobjekt", obj.context_object)

    def _split(self, obj: RecordObject) -> tuple[list[RecordObject], list[RecordObject], list[RecordObject]]:
        docs = [c for c in obj.children if c.kind is ObjectKind.DOKUMENT]
        procs = [c for c in obj.children if c.kind in (ObjectKind.VORGANG, ObjectKind.TEILVORGANG)]
        files = [c for c in obj.children if c.kind in (ObjectKind.AKTE, ObjectKind.TEILAKTE)]
        return docs, procs, files

    def akte(self, parent: etree._Element, tag: str, obj: RecordObject, *, aussonderung: bool) -> None:
        el = self.sub(parent, tag)
        self._identification(el, obj)
        self._context(el, obj, aussonderung)
        self._general(el, obj)
        self._disposal(el, obj)
        self.opt(el, "Typ", obj.document_type)
        self._laufzeit(el, obj)
        docs, procs, files = self._split(obj)
        if docs or procs or files:
            content = self.sub(el, "Akteninhalt")
            for doc in docs:
                self.dokument(content, doc, wrap=self.v4)
            for proc in procs:
                self.vorgang(content, "Vorgang", proc, aussonderung=aussonderung)
            for sub in files:
                self.akte(content, "Teilakte", sub, aussonderung=aussonderung)

    def vorgang(self, parent: etree._Element, tag: str, obj: RecordObject, *, aussonderung: bool) -> None:
        el = self.sub(parent, tag)
        self._identification(el, obj)
        self._context(el, obj, aussonderung)
        self._general(el, obj)
        self._disposal(el, obj)
        self.opt(el, "Typ", obj.document_type)
        self._laufzeit(el, obj)
        docs, procs, files = self._split(obj)
        if files:
            raise BuildError(f"Vorgang {obj.id} contains an Akte ({files[0].id}); xdomea nests Akten only in Akten")
        for doc in docs:
            self.dokument(el, doc, wrap=self.v4)
        for proc in procs:
            self.vorgang(el, "Teilvorgang", proc, aussonderung=aussonderung)

    def dokument(self, parent: etree._Element, obj: RecordObject, *, wrap: bool, tag: str = "Dokument") -> None:
        if obj.kind is not ObjectKind.DOKUMENT:
            raise BuildError(f"{obj.kind.value} {obj.id} cannot stand where xdomea expects a Dokument")
        if wrap:
            parent = self.sub(parent, "DokumentOderDokumentMitSchriftstueck" if tag == "Dokument" else tag)
            tag = "Dokument"
        el = self.sub(parent, tag)
        self._identification(el, obj)
        self._general(el, obj)
        self.opt(el, "Typ", obj.document_type)
        attachments = [c for c in obj.children if c.kind is ObjectKind.DOKUMENT]
        others = [c for c in obj.children if c.kind is not ObjectKind.DOKUMENT]
        if others:
            raise BuildError(f"Dokument {obj.id} contains {others[0].kind.value} {others[0].id}")
        if self.v4:
            for att in attachments:
                self.dokument(el, att, wrap=True, tag="Anlage")
        for version in obj.versions:
            if not version.formats:
                raise BuildError(f"Version {version.number} of Dokument {obj.id} has no Format")
            ver = self.sub(el, "Version")
            self.sub(ver, "Nummer", version.number)
            for fmt in version.formats:
                self.format(ver, fmt, obj)
        if not self.v4:
            for att in attachments:
                self.dokument(el, att, wrap=False, tag="Anlage")

    def format(self, parent: etree._Element, fmt: Format, obj: RecordObject) -> None:
        if fmt.primary is None:
            raise BuildError(f"a Format of Dokument {obj.id} names no Primaerdokument")
        el = self.sub(parent, "Format")
        self.code(el, "Name", "DateiformatCodeType", fmt.name)
        self.opt(el, "SonstigerName", fmt.other_name)
        self.sub(el, "Version", fmt.version or "")
        primary = fmt.primary
        pd = self.sub(el, "Primaerdokument")
        self.sub(pd, "Dateiname", primary.filename)
        self.opt(pd, "DateinameOriginal", primary.original_filename)
        self.opt(pd, "Ersteller", primary.creator)
        self.timestamp(pd, "DatumUhrzeit", primary.created_at)
        if self.v4:
            self.timestamp(pd, "ZeitpunktLetzteAenderung", primary.modified_at)
            if primary.hash_value:
                digest = self.sub(pd, "Hash")
                self.sub(digest, "Wert", primary.hash_value)
                algorithm = primary.hash_algorithm or "SHA-256"
                self.code(digest, "Algorithmus", "KryptographischeAlgorithmenCodeType", algorithm)
