"""The typed model of an xdomea message, the same for every supported version.

Parsing (:mod:`gateway.xoev.parsing.parse`) fills it from any version; building (:mod:`gateway.xoev.build`) writes
it out in 3.0.0, 3.1.0 or 4.0.0. Names follow the standard where they name its things (Kopf, Akte,
Vorgang, ProzessID ...) so that people who know xdomea recognise them; 4.0.0's XÖV Basisnachricht header
(nachrichtenkopf/autor/leser) maps onto the same ``Kopf``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


class ObjectKind(enum.StrEnum):
    """The kinds of Schriftgutobjekt, named as the xdomea elements are."""

    AKTE = "Akte"
    TEILAKTE = "Teilakte"
    VORGANG = "Vorgang"
    TEILVORGANG = "Teilvorgang"
    DOKUMENT = "Dokument"


@dataclass(slots=True)
class Code:
    """A code list value as it travels: the code, its optional name and the list it comes from."""

    code: str
    name: str | None = None
    list_uri: str | None = None
    list_version: str | None = None


@dataclass(slots=True)
class Party:
    """Absender or Empfaenger (2.x/3.x ``Kontakt``; 4.0.0 ``autor``/``leser``)."""

    institution: str | None = None
    institution_short: str | None = None
    organisation_unit: str | None = None
    person: str | None = None
    #: XÖV Behördenkennung: (prefix code, Kennung), e.g. ("psw", "16077000") for a Thuringian district.
    authority_prefix: str | None = None
    authority_id: str | None = None
    #: 4.0.0 only: the directory the authority is registered in (``verzeichnisdienst`` code, e.g. "DVDV");
    #: its ``kennung`` "psw:16077000" is split into ``authority_prefix`` and ``authority_id``.
    directory: str | None = None

    @property
    def xoev_identifier(self) -> str | None:
        """``prefix:kennung``, the key the participant directory uses, when the party carries one."""
        if self.authority_prefix and self.authority_id:
            return f"{self.authority_prefix}:{self.authority_id}"
        return None

    @property
    def display_name(self) -> str:
        return self.institution or self.organisation_unit or self.person or self.xoev_identifier or "?"


@dataclass(slots=True)
class SendingSystem:
    """The Kopf's SendendesSystem (4.0.0: the root's produkt/produkthersteller attributes)."""

    product: str | None = None
    manufacturer: str | None = None
    version: str | None = None
    #: ``InstanzID``: which installation of the product sent the message (4.0.0: in the nachrichtenkopf).
    instance_id: str | None = None


@dataclass(slots=True)
class Kopf:
    process_id: str
    message_type: Code
    created_at: datetime | None = None
    sender: Party | None = None
    recipient: Party | None = None
    sending_system: SendingSystem | None = None
    #: Empfangsbestaetigung requested (the receiver must answer with a receipt such as 0504/0505).
    receipt_requested: bool = False
    #: Importbestaetigung requested (0401/0503: the receiver answers 0402/0506 after import).
    import_confirmation_requested: bool | None = None
    #: 4.0.0 only: the UUID of this single message (nachrichtenUUID).
    message_uuid: str | None = None
    #: Hinweis: free text for the receiver.
    note: str | None = None
    #: RueckmeldungArchivkennung (0503): the archive shall report its Archivkennung per object in 0506.
    archive_id_requested: bool | None = None
    #: 4.0.0 receipts: UUIDUrsprungsnachricht, the nachrichtenUUID of the message answered.
    origin_message_uuid: str | None = None
    #: 4.0.0: LfdNrNachrichtProTyp / GesamtanzahlNachrichtenProTyp (a process split over several messages).
    sequence_number: int | None = None
    sequence_total: int | None = None


@dataclass(slots=True)
class Primaerdokument:
    filename: str
    original_filename: str | None = None
    created_at: datetime | None = None
    creator: str | None = None
    #: 4.0.0: ZeitpunktLetzteAenderung and the declared Hash (Wert, Algorithmus code such as "SHA-256").
    modified_at: datetime | None = None
    hash_value: str | None = None
    hash_algorithm: str | None = None


@dataclass(slots=True)
class Format:
    name: Code
    version: str | None = None
    primary: Primaerdokument | None = None
    #: SonstigerName: the format's name when the Dateiformat code list has no entry for it.
    other_name: str | None = None


@dataclass(slots=True)
class DocumentVersion:
    number: str
    formats: list[Format] = field(default_factory=list)


@dataclass(slots=True)
class RecordObject:
    """One Schriftgutobjekt with its main metadata and its children, in document order."""

    kind: ObjectKind
    #: ``Identifikation/ID`` (2.x/3.x) or ``Identifikation/xdomeaUUID`` (4.0.0).
    id: str
    kennzeichen: str | None = None  # Aktenzeichen for an Akte, Vorgangskennzeichen ...
    betreff: str | None = None
    laufzeit_begin: date | None = None
    laufzeit_end: date | None = None
    aussonderungsart: Code | None = None
    bewertungsvorschlag: Code | None = None
    #: 4.0.0 Kontextobjekt: present only to give context, not itself handed over.
    context_object: bool = False
    number_in_parent: str | None = None
    document_type: str | None = None
    children: list[RecordObject] = field(default_factory=list)
    versions: list[DocumentVersion] = field(default_factory=list)
    #: An Anlage: of its parent Dokument (then a child of kind DOKUMENT), or of a 0201 Geschaeftsgang message.
    attachment: bool = False
    #: 4.0.0 DokumentMitSchriftstueck: a logical Dokument whose children are its Schriftstuecke.
    has_schriftstuecke: bool = False

    def walk(self) -> list[RecordObject]:
        """This object and all descendants, depth first, in document order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass(slots=True)
class ObjectOutcome:
    """A receipt's word on one object it answers for.

    0502 BewertetesObjekt carries the archive's Aussonderungsart; 0402 AbgegebenesObjekt, 0506
    AusgesondertesSGO (2.x: Rueckgabeparameter) carry success, error messages and the Archivkennung.
    """

    id: str
    aussonderungsart: Code | None = None
    success: bool | None = None
    archive_id: str | None = None
    errors: list[str] = field(default_factory=list)
    error_codes: list[Code] = field(default_factory=list)


@dataclass(slots=True)
class Message:
    """A parsed xdomea message.

    ``element`` is the local name of the message element, e.g. ``Aussonderung.Aussonderung.0503``;
    ``message_type`` in the Kopf is what the sender declared (the two can disagree, see rule XGW-HDR-001).
    """

    version: str
    element: str
    kopf: Kopf
    objects: list[RecordObject] = field(default_factory=list)
    #: Receipts and answers: the ids of the objects they answer for, with per-object result where given.
    referenced_ids: list[str] = field(default_factory=list)
    #: The per-object results of a receipt, in document order (same ids as ``referenced_ids``).
    outcomes: list[ObjectOutcome] = field(default_factory=list)
    #: Anschreiben: cover letters (Dokumente) sent along with the Schriftgutobjekte.
    cover_letters: list[RecordObject] = field(default_factory=list)
    #: Message-level ErfolgOderMisserfolg of an import receipt (2.x 0402/0506, 4.0.0 0402/0506/0514).
    success: bool | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The 4-digit message type code taken from the message element name."""
        return self.element.rsplit(".", 1)[-1]

    def walk(self) -> list[RecordObject]:
        out: list[RecordObject] = []
        for obj in self.objects:
            out.extend(obj.walk())
        return out

    def primary_documents(self) -> list[Primaerdokument]:
        return [
            fmt.primary for obj in self.walk() for ver in obj.versions for fmt in ver.formats if fmt.primary is not None
        ]
