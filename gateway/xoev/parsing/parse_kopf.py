"""The message header: 2.x/3.x ``Kopf`` and 4.0.0's XÖV Basisnachricht ``nachrichtenkopf`` onto one ``Kopf``.

Where the two generations differ:

* 2.x/3.x keep everything in ``Kopf``: ProzessID, Nachrichtentyp, Erstellungszeitpunkt, Absender,
  Empfaenger, SendendesSystem and the requested receipts (Empfangsbestaetigung, Importbestaetigung ...).
* 4.0.0 has ``nachrichtenkopf`` with ``identifikation.nachricht`` (nachrichtenUUID, nachrichtentyp,
  erstellungszeitpunkt), ``leser`` (recipient), ``autor`` (sender), ProzessID and InstanzID; the receipt
  flags, LfdNr/Gesamtanzahl and UUIDUrsprungsnachricht sit on the message element itself, and the
  sending product is named by the root's ``produkt``/``produkthersteller``/``produktversion`` attributes.

The flags are therefore looked up in the Kopf and on the message element alike, so a 4.0.0 message that
misplaces one is still shown with it.
"""

from __future__ import annotations

from lxml import etree

from gateway.xoev.model import Code, Kopf, Party, SendingSystem
from gateway.xoev.parsing.parse_common import (
    CODE,
    Names,
    child,
    child_text,
    code,
    to_bool,
    to_datetime,
    to_int,
)


def parse_kopf(root: etree._Element, n: Names) -> Kopf:
    head = child(root, n.nachrichtenkopf)
    if head is not None:
        kopf = _kopf_4(root, head, n)
        flag_holders = [root, head]
    else:
        head = child(root, n.Kopf)
        kopf = _kopf_2_3(head, n)
        flag_holders = [head, root] if head is not None else [root]
    _read_flags(kopf, flag_holders, n)
    return kopf


def _kopf_2_3(head: etree._Element | None, n: Names) -> Kopf:
    system_el = child(head, n.SendendesSystem)
    system = None
    if system_el is not None:
        system = SendingSystem(
            product=child_text(system_el, n.Produktname),
            manufacturer=child_text(system_el, n.Produkthersteller),
            version=child_text(system_el, n.Version, n.Produktversion),
            instance_id=child_text(system_el, n.InstanzID),
        )
    return Kopf(
        process_id=child_text(head, n.ProzessID) or "",
        message_type=code(child(head, n.Nachrichtentyp)) or Code(code=""),
        created_at=to_datetime(child_text(head, n.Erstellungszeitpunkt)),
        sender=parse_party(child(head, n.Absender), n),
        recipient=parse_party(child(head, n.Empfaenger), n),
        sending_system=system,
        note=child_text(head, n.Hinweis),
    )


def _kopf_4(root: etree._Element, head: etree._Element, n: Names) -> Kopf:
    ident = child(head, n.identifikation_nachricht)
    product = _attr(root, "produkt")
    manufacturer = _attr(root, "produkthersteller")
    product_version = _attr(root, "produktversion")
    instance_id = child_text(head, n.InstanzID)
    system = None
    if product or manufacturer or product_version or instance_id:
        system = SendingSystem(
            product=product, manufacturer=manufacturer, version=product_version, instance_id=instance_id
        )
    return Kopf(
        process_id=child_text(head, n.ProzessID) or "",
        message_type=code(child(ident, *n.nachrichtentyp)) or Code(code=""),
        created_at=to_datetime(child_text(ident, *n.erstellungszeitpunkt)),
        sender=parse_party(child(head, n.autor), n),
        recipient=parse_party(child(head, n.leser), n),
        sending_system=system,
        message_uuid=child_text(ident, *n.nachrichtenUUID),
        note=child_text(head, n.Hinweis),
    )


def _read_flags(kopf: Kopf, holders: list[etree._Element], n: Names) -> None:
    def flag(tag: str) -> bool | None:
        return to_bool(child_text(_first_holding(holders, tag), tag))

    receipt = [flag(n.Empfangsbestaetigung), flag(n.EmpfangsbestaetigungAnInitiator)]
    receipt.append(flag(n.EmpfangsbestaetigungAnVorgaenger))
    kopf.receipt_requested = any(receipt)
    kopf.import_confirmation_requested = flag(n.Importbestaetigung)
    kopf.archive_id_requested = flag(n.RueckmeldungArchivkennung)
    origin = _first_holding(holders, n.UUIDUrsprungsnachricht)
    kopf.origin_message_uuid = child_text(origin, n.UUIDUrsprungsnachricht)
    kopf.sequence_number = to_int(child_text(_first_holding(holders, n.LfdNrNachrichtProTyp), n.LfdNrNachrichtProTyp))
    total = _first_holding(holders, n.GesamtanzahlNachrichtenProTyp)
    kopf.sequence_total = to_int(child_text(total, n.GesamtanzahlNachrichtenProTyp))


def _first_holding(holders: list[etree._Element], tag: str) -> etree._Element | None:
    for holder in holders:
        if child(holder, tag) is not None:
            return holder
    return None


def _attr(el: etree._Element, name: str) -> str | None:
    value = el.get(name)
    if value is None:
        return None
    return value.strip() or None


def parse_party(el: etree._Element | None, n: Names) -> Party | None:
    """A ``Kontakt`` (Absender/Empfaenger, 4.0.0 autor/leser); None when the element is absent."""
    if el is None:
        return None
    party = Party(
        institution=child_text(child(el, n.Institution, n.NameInstitution), n.Name),
        institution_short=child_text(child(el, n.Institution, n.NameInstitution), n.Kurzbezeichnung),
        organisation_unit=child_text(child(el, n.Organisationseinheit, n.NameOrganisationseinheit), n.Name),
        person=_person(child(el, n.Name, n.NameAnsprechpartner), n),
    )
    _authority(party, child(el, n.Behoerdenkennung), n)
    return party


def _person(el: etree._Element | None, n: Names) -> str | None:
    """Titel, Vorname, Familienname joined: the name as a letter would address the person."""
    if el is None:
        return None
    parts = [
        child_text(el, n.Titel),
        child_text(child(el, n.Vorname), n.Name),
        child_text(child(el, n.Familienname), n.Name),
    ]
    joined = " ".join(part for part in parts if part)
    return joined or None


def _authority(party: Party, el: etree._Element | None, n: Names) -> None:
    """Behoerdenkennung in its three shapes.

    2.x: Kennung + Praefix (codes); 3.x: Behoerdenschluessel + Praefix (codes); 4.0.0: verzeichnisdienst
    (code) + kennung (text, "prefix:kennung" for the DVDV).
    """
    if el is None:
        return
    directory = child(el, n.verzeichnisdienst)
    if directory is not None or child(el, n.kennung) is not None:
        party.directory = child_text(directory, CODE)
        value = child_text(el, n.kennung)
        if value is not None and ":" in value:
            prefix, _, ident = value.partition(":")
            party.authority_prefix = prefix.strip() or None
            party.authority_id = ident.strip() or None
        else:
            party.authority_id = value
        return
    party.authority_id = child_text(child(el, n.Behoerdenschluessel, n.Kennung), CODE)
    party.authority_prefix = child_text(child(el, n.Praefix), CODE)
