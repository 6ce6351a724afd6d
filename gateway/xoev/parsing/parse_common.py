"""What every part of the message parser shares: Clark names per namespace and tolerant value readers.

The parser also runs on messages that failed XSD validation (to show people what they sent), so every
reader here returns None for what is missing or malformed instead of raising. Element names are
precomputed once per xdomea namespace: lxml's ``find`` with a ready Clark name is a plain C lookup,
while path strings and XPath would be compiled again and again on a 0503 with thousands of Dokumente.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from lxml import etree

from gateway.xoev.model import Code

#: Names in no namespace: xoev-code's ``code``/``name`` and 4.0.0's Basisnachricht identification fields.
CODE = "code"
NAME = "name"

_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


class Names:
    """The Clark names (``{namespace}Local``) of the xdomea elements the parser reads, for one namespace.

    Attribute names are the elements' local names, so ``n.Kopf`` reads like the standard.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        q = "{" + namespace + "}"
        # Kopf (2.x/3.x) and nachrichtenkopf (4.0.0)
        self.Kopf = q + "Kopf"
        self.nachrichtenkopf = q + "nachrichtenkopf"
        self.identifikation_nachricht = q + "identifikation.nachricht"
        self.autor = q + "autor"
        self.leser = q + "leser"
        self.ProzessID = q + "ProzessID"
        self.Nachrichtentyp = q + "Nachrichtentyp"
        self.Erstellungszeitpunkt = q + "Erstellungszeitpunkt"
        self.Absender = q + "Absender"
        self.Empfaenger = q + "Empfaenger"
        self.SendendesSystem = q + "SendendesSystem"
        self.InstanzID = q + "InstanzID"
        self.Produktname = q + "Produktname"
        self.Produkthersteller = q + "Produkthersteller"
        self.Produktversion = q + "Produktversion"
        self.Version = q + "Version"
        self.Hinweis = q + "Hinweis"
        self.Empfangsbestaetigung = q + "Empfangsbestaetigung"
        self.EmpfangsbestaetigungAnInitiator = q + "EmpfangsbestaetigungAnInitiator"
        self.EmpfangsbestaetigungAnVorgaenger = q + "EmpfangsbestaetigungAnVorgaenger"
        self.Importbestaetigung = q + "Importbestaetigung"
        self.RueckmeldungArchivkennung = q + "RueckmeldungArchivkennung"
        self.UUIDUrsprungsnachricht = q + "UUIDUrsprungsnachricht"
        self.LfdNrNachrichtProTyp = q + "LfdNrNachrichtProTyp"
        self.GesamtanzahlNachrichtenProTyp = q + "GesamtanzahlNachrichtenProTyp"
        # Kontakt
        self.Behoerdenkennung = q + "Behoerdenkennung"
        self.Kennung = q + "Kennung"
        self.Behoerdenschluessel = q + "Behoerdenschluessel"
        self.Praefix = q + "Praefix"
        self.verzeichnisdienst = q + "verzeichnisdienst"
        self.kennung = q + "kennung"
        self.Institution = q + "Institution"
        self.NameInstitution = q + "NameInstitution"
        self.Organisationseinheit = q + "Organisationseinheit"
        self.NameOrganisationseinheit = q + "NameOrganisationseinheit"
        self.NameAnsprechpartner = q + "NameAnsprechpartner"
        self.Name = q + "Name"
        self.Kurzbezeichnung = q + "Kurzbezeichnung"
        self.Titel = q + "Titel"
        self.Vorname = q + "Vorname"
        self.Familienname = q + "Familienname"
        # Schriftgutobjekte
        self.Schriftgutobjekt = q + "Schriftgutobjekt"
        self.Anschreiben = q + "Anschreiben"
        self.Hauptobjekt = q + "Hauptobjekt"
        self.Anlage = q + "Anlage"
        self.Akte = q + "Akte"
        self.Teilakte = q + "Teilakte"
        self.Akteninhalt = q + "Akteninhalt"
        self.Vorgang = q + "Vorgang"
        self.Teilvorgang = q + "Teilvorgang"
        self.Dokument = q + "Dokument"
        self.DokumentOderDokumentMitSchriftstueck = q + "DokumentOderDokumentMitSchriftstueck"
        self.DokumentMitSchriftstueck = q + "DokumentMitSchriftstueck"
        self.Schriftstueck = q + "Schriftstueck"
        self.Identifikation = q + "Identifikation"
        self.ID = q + "ID"
        self.xdomeaUUID = q + "xdomeaUUID"
        self.NummerImUebergeordnetenContainer = q + "NummerImUebergeordnetenContainer"
        self.Kontextobjekt = q + "Kontextobjekt"
        self.AllgemeineMetadaten = q + "AllgemeineMetadaten"
        self.Betreff = q + "Betreff"
        self.Kennzeichen = q + "Kennzeichen"
        self.ArchivspezifischeMetadaten = q + "ArchivspezifischeMetadaten"
        self.Aussonderungsmetadaten = q + "Aussonderungsmetadaten"
        self.Aussonderungsart = q + "Aussonderungsart"
        self.AussonderungsartKonfigurierbar = q + "AussonderungsartKonfigurierbar"
        self.Bewertungsvorschlag = q + "Bewertungsvorschlag"
        self.Typ = q + "Typ"
        self.Laufzeit = q + "Laufzeit"
        self.Beginn = q + "Beginn"
        self.Ende = q + "Ende"
        self.Nummer = q + "Nummer"
        self.Format = q + "Format"
        self.SonstigerName = q + "SonstigerName"
        self.Primaerdokument = q + "Primaerdokument"
        self.Dateiname = q + "Dateiname"
        self.DateinameOriginal = q + "DateinameOriginal"
        self.Ersteller = q + "Ersteller"
        self.DatumUhrzeit = q + "DatumUhrzeit"
        self.ZeitpunktLetzteAenderung = q + "ZeitpunktLetzteAenderung"
        self.Hash = q + "Hash"
        self.Wert = q + "Wert"
        self.Algorithmus = q + "Algorithmus"
        self.SonstigerAlgorithmus = q + "SonstigerAlgorithmus"
        # receipts
        self.ErfolgOderMisserfolg = q + "ErfolgOderMisserfolg"
        self.Erfolgreich = q + "Erfolgreich"
        self.Fehlermeldung = q + "Fehlermeldung"
        self.FehlermeldungCode = q + "FehlermeldungCode"
        self.Archivkennung = q + "Archivkennung"
        self.IDSGO = q + "IDSGO"
        self.Rueckgabeparameter = q + "Rueckgabeparameter"
        # 4.0.0's Basisnachricht identification: unqualified in the samples; the qualified form is tolerated.
        self.nachrichtenUUID = (q + "nachrichtenUUID", "nachrichtenUUID")
        self.nachrichtentyp = (q + "nachrichtentyp", "nachrichtentyp")
        self.erstellungszeitpunkt = (q + "erstellungszeitpunkt", "erstellungszeitpunkt")


@lru_cache(maxsize=32)
def names_for(namespace: str) -> Names:
    return Names(namespace)


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def child(parent: etree._Element | None, *tags: str) -> etree._Element | None:
    """The first child with any of ``tags`` (tried in order), or None.

    ``iterchildren(tag)`` filters in C; ``find`` would go through lxml's Python ElementPath layer.
    """
    if parent is None:
        return None
    for tag in tags:
        for found in parent.iterchildren(tag):
            return found
    return None


def index(parent: etree._Element | None) -> dict[object, etree._Element]:
    """The first child per tag, for elements read field by field (Primaerdokument, Format ...).

    One pass over the children is cheaper than one lookup per field once more than two fields are read.
    Keys are tags (comments and processing instructions have non-string tags and are never asked for).
    """
    out: dict[object, etree._Element] = {}
    if parent is not None:
        for item in parent:
            tag = item.tag
            if tag not in out:
                out[tag] = item
    return out


def text(el: etree._Element | None) -> str | None:
    """The element's text, stripped; None when the element or its text is missing or blank."""
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def child_text(parent: etree._Element | None, *tags: str) -> str | None:
    return text(child(parent, *tags))


def to_bool(value: str | None) -> bool | None:
    """xs:boolean's four lexical forms; anything else is unknown (None), never an exception."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def to_date(value: str | None) -> date | None:
    """An xs:date; a trailing time zone ("2020-01-01Z", "+01:00") is dropped, it does not move a day."""
    if value is None or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def to_datetime(value: str | None) -> datetime | None:
    """An xs:dateTime (with or without zone, any number of fractional digits)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def code(el: etree._Element | None) -> Code | None:
    """A code list value (xoev-code ``Code``): ``code`` and ``name`` children, ``listURI``/``listVersionID``."""
    if el is None:
        return None
    value = child_text(el, CODE)
    if value is None:
        return None
    return Code(
        code=value,
        name=child_text(el, NAME),
        list_uri=el.get("listURI") or None,
        list_version=el.get("listVersionID") or None,
    )
