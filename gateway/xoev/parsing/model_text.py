"""A parsed message as readable text: the Kopf, then the Schriftgutobjekte as an indented tree.

Meant for people at a terminal (``xgw inspect``): one line per object with kind, id, Kennzeichen,
Betreff and Laufzeit, one line per primary file below its Dokument. Values that are missing are left
out rather than shown as "None", except the ones a reader looks for (ProzessID, Absender, Empfaenger).
"""

from __future__ import annotations

from datetime import date, datetime

from gateway.xoev.model import Code, Message, ObjectOutcome, Party, RecordObject
from gateway.xoev.parsing.model_json import object_counts

INDENT = "  "


def _code(value: Code | None) -> str:
    if value is None:
        return "-"
    return f"{value.code} {value.name}" if value.name else value.code or "-"


def _when(value: date | datetime | None) -> str:
    return value.isoformat() if value is not None else "?"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _party(party: Party | None) -> str:
    if party is None:
        return "(missing)"
    parts = [party.institution, party.organisation_unit, party.person]
    text = " / ".join(part for part in parts if part) or "(no name)"
    if party.institution_short:
        text += f" ({party.institution_short})"
    if party.xoev_identifier or party.authority_id:
        text += f" [{party.xoev_identifier or party.authority_id}]"
    return text


def _laufzeit(obj: RecordObject) -> str | None:
    if obj.laufzeit_begin is None and obj.laufzeit_end is None:
        return None
    return f"{_when(obj.laufzeit_begin)} – {_when(obj.laufzeit_end)}"


def _object_line(obj: RecordObject) -> str:
    head = obj.kind.value
    if obj.attachment:
        head += " (Anlage)"
    if obj.has_schriftstuecke:
        head += " (mit Schriftstuecken)"
    if obj.context_object:
        head += " (Kontextobjekt)"
    parts = [head, obj.id or "(no id)"]
    if obj.kennzeichen:
        parts.append(f"[{obj.kennzeichen}]")
    if obj.betreff:
        parts.append(f"“{obj.betreff}”")
    laufzeit = _laufzeit(obj)
    if laufzeit:
        parts.append(laufzeit)
    if obj.aussonderungsart is not None:
        parts.append(f"Aussonderungsart {obj.aussonderungsart.code}")
    if obj.bewertungsvorschlag is not None:
        parts.append(f"Bewertungsvorschlag {obj.bewertungsvorschlag.code}")
    return "  ".join(parts)


def _render_object(obj: RecordObject, depth: int, out: list[str]) -> None:
    pad = INDENT * depth
    out.append(pad + _object_line(obj))
    for version in obj.versions:
        for fmt in version.formats:
            if fmt.primary is None:
                continue
            detail = [f"format {_code(fmt.name)}"]
            if version.number:
                detail.append(f"version {version.number}")
            if fmt.primary.original_filename:
                detail.append(f"original {fmt.primary.original_filename}")
            out.append(f"{pad}{INDENT}file {fmt.primary.filename or '(no name)'}  ({', '.join(detail)})")
    for child in obj.children:
        _render_object(child, depth + 1, out)


def _outcome_line(outcome: ObjectOutcome) -> str:
    parts = [outcome.id or "(no id)"]
    if outcome.aussonderungsart is not None:
        parts.append(f"Aussonderungsart {outcome.aussonderungsart.code}")
    if outcome.success is not None:
        parts.append("success" if outcome.success else "FAILED")
    if outcome.archive_id:
        parts.append(f"Archivkennung {outcome.archive_id}")
    parts.extend(outcome.errors)
    parts.extend(_code(item) for item in outcome.error_codes)
    return "  ".join(parts)


def render_message(msg: Message) -> str:
    kopf = msg.kopf
    lines = [
        f"xdomea {msg.version}  {msg.element}",
        f"ProzessID            {kopf.process_id or '(missing)'}",
        f"Nachrichtentyp       {_code(kopf.message_type)}",
        f"Erstellungszeitpunkt {_when(kopf.created_at)}",
        f"Absender             {_party(kopf.sender)}",
        f"Empfaenger           {_party(kopf.recipient)}",
    ]
    if kopf.message_uuid:
        lines.append(f"nachrichtenUUID      {kopf.message_uuid}")
    if kopf.origin_message_uuid:
        lines.append(f"answers message      {kopf.origin_message_uuid}")
    system = kopf.sending_system
    if system is not None:
        named = " ".join(part for part in (system.manufacturer, system.product, system.version) if part)
        lines.append(
            f"SendendesSystem      {named or '-'}" + (f" [{system.instance_id}]" if system.instance_id else "")
        )
    receipts = f"Empfangsbestaetigung {_yes_no(kopf.receipt_requested)}"
    if kopf.import_confirmation_requested is not None:
        receipts += f", Importbestaetigung {_yes_no(kopf.import_confirmation_requested)}"
    if kopf.archive_id_requested is not None:
        receipts += f", RueckmeldungArchivkennung {_yes_no(kopf.archive_id_requested)}"
    lines.append(f"requested            {receipts}")
    if kopf.sequence_number is not None or kopf.sequence_total is not None:
        lines.append(f"message              {kopf.sequence_number or '?'} of {kopf.sequence_total or '?'}")
    if kopf.note:
        lines.append(f"Hinweis              {kopf.note}")
    if msg.success is not None:
        lines.append(f"result               {'success' if msg.success else 'FAILED'}")
    lines.extend(f"error                {error}" for error in msg.errors)

    counts = ", ".join(f"{count} {kind}" for kind, count in object_counts(msg).items() if count)
    if msg.cover_letters:
        lines.append(f"Anschreiben ({len(msg.cover_letters)}):")
        for letter in msg.cover_letters:
            _render_object(letter, 1, lines)
    if msg.objects:
        lines.append(f"Schriftgutobjekte ({counts}):")
        for obj in msg.objects:
            _render_object(obj, 1, lines)
    if msg.outcomes:
        lines.append(f"referenced objects ({len(msg.outcomes)}):")
        lines.extend(INDENT + _outcome_line(outcome) for outcome in msg.outcomes)
    return "\n".join(lines) + "\n"
