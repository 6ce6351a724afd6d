"""German and English interface text: one catalogue, the language from a toggle (cookie) or Accept-Language.

German is the console's language (its users are German administrators); English when the user switches
(``?lang=en``, remembered in a cookie) or the browser prefers it. Every text a page shows comes from
:data:`CATALOGUE` (key -> English, German) through :func:`translate`; a key missing there is shown as
``⟦key⟧`` and recorded in :data:`MISSING`, so a test that renders every page finds it.

The pipeline writes its event reasons, errors and refusals as English sentences into the database (they
are also log lines and API values). :func:`phrase` translates the known ones for display by pattern
(:data:`PHRASES`) and keeps an unknown one as it is, marked ``lang="en"`` so a screen reader reads it
as English. Values named ``state`` or ``to``/``from`` inside a phrase are translated as states.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape
from starlette.requests import Request

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LANG_COOKIE = "xgw_console_lang"
#: how a missing key is shown (visible, and easy for a test to find in the HTML)
MISSING_MARK = "⟦{}⟧"
#: keys asked for but not in the catalogue since the process started (bounded: a key can come from a URL)
MISSING: set[str] = set()
MAX_MISSING = 200

#: key -> (English, German)
CATALOGUE: dict[str, tuple[str, str]] = {
    "app": ("xoev-gateway console", "xoev-gateway Konsole"),
    "skip": ("Skip to content", "Zum Inhalt springen"),
    "nav": ("Main navigation", "Hauptnavigation"),
    "dashboard": ("Dashboard", "Übersicht"),
    "messages": ("Messages", "Nachrichten"),
    "participants": ("Participants", "Teilnehmer"),
    "audit": ("Audit log", "Prüfprotokoll"),
    "sign_in": ("Sign in", "Anmelden"),
    "sign_out": ("Sign out", "Abmelden"),
    "user": ("User name", "Benutzername"),
    "password": ("Password", "Passwort"),
    "sign_in_failed": ("User name or password is wrong.", "Benutzername oder Passwort ist falsch."),
    "throttled": (
        "Too many failed sign-ins; try again in 15 minutes.",
        "Zu viele fehlgeschlagene Anmeldungen; bitte in 15 Minuten erneut versuchen.",
    ),
    "signed_in_as": ("Signed in as", "Angemeldet als"),
    "language": ("Deutsch", "English"),
    "queue": ("Queue", "Warteschlange"),
    "count": ("Messages", "Nachrichten"),
    "oldest": ("Oldest waiting", "Älteste wartet seit"),
    "throughput": ("Last hour", "Letzte Stunde"),
    "q_inbound": ("Inbound", "Eingang"),
    "q_outbound": ("Outbound", "Ausgang"),
    "q_waiting": ("Waiting for receipt", "Wartet auf Quittung"),
    "q_dead": ("Dead letter", "Unzustellbar"),
    "failures": ("Failures by rule or fault", "Fehler nach Regel oder Ursache"),
    "fault": ("Rule or fault", "Regel oder Ursache"),
    "none": ("None.", "Keine."),
    "peers": ("XTA peers", "XTA-Gegenstellen"),
    "adapters": ("DMS adapters", "DMS-Adapter"),
    "health": ("Health", "Zustand"),
    "state": ("State", "Status"),
    "type": ("Type", "Typ"),
    "process": ("ProzessID", "ProzessID"),
    "participant": ("Participant", "Teilnehmer"),
    "sender": ("Sender", "Absender"),
    "recipient": ("Recipient", "Empfänger"),
    "direction": ("Direction", "Richtung"),
    "received_at": ("Received", "Eingegangen"),
    "from": ("From", "Von"),
    "until": ("Until", "Bis"),
    "text": ("Betreff or Aktenzeichen", "Betreff oder Aktenzeichen"),
    "search": ("Search", "Suchen"),
    "sort": ("Sort", "Sortierung"),
    "newest": ("Newest first", "Neueste zuerst"),
    "oldest_first": ("Oldest first", "Älteste zuerst"),
    "any": ("any", "alle"),
    "next_page": ("Next page", "Nächste Seite"),
    "no_messages": ("No messages match.", "Keine passenden Nachrichten."),
    "error": ("Error", "Fehler"),
    "header": ("Header (Kopf)", "Kopf"),
    "records": ("Record tree", "Schriftgutobjekte"),
    "validation": ("Validation report", "Prüfbericht"),
    "valid": ("valid", "gültig"),
    "invalid": ("invalid", "ungültig"),
    "signature": ("Signature", "Signatur"),
    "signer": ("Signer certificate (SHA-256)", "Zertifikat des Signierers (SHA-256)"),
    "history": ("History", "Verlauf"),
    "attempts": ("Delivery attempts", "Zustellversuche"),
    "transport": ("Transport report", "Transportbericht"),
    "process_steps": ("Process", "Prozess"),
    "waits_for": ("Waits for", "Wartet auf"),
    "download": ("Download payload", "Nachricht herunterladen"),
    "actions": ("Actions", "Aktionen"),
    "retry": ("Retry", "Erneut versuchen"),
    "requeue": ("Requeue", "Neu einreihen"),
    "cancel": ("Cancel", "Abbrechen"),
    "dead_letter": ("Move to dead letter", "Als unzustellbar ablegen"),
    "confirm": ("Confirm", "Bestätigen"),
    "confirm_q": ("Really do this?", "Wirklich ausführen?"),
    "back": ("Back", "Zurück"),
    "note": ("Note (recorded in the history)", "Notiz (wird im Verlauf vermerkt)"),
    "done": ("Done.", "Erledigt."),
    "refused": ("Refused", "Abgelehnt"),
    "not_found": ("Not found", "Nicht gefunden"),
    "forbidden": ("Not allowed", "Nicht erlaubt"),
    "when": ("When", "Wann"),
    "who": ("Who", "Wer"),
    "what": ("What", "Was"),
    "target": ("Target", "Ziel"),
    "result": ("Result", "Ergebnis"),
    "why": ("Why", "Warum"),
    "name": ("Name", "Name"),
    "route": ("Route", "Route"),
    "endpoint": ("Endpoint", "Endpunkt"),
    "policy": ("Signature policy", "Signaturrichtlinie"),
    "versions": ("Accepted versions", "Akzeptierte Versionen"),
    "adapter": ("Adapter", "Adapter"),
    "certificates": ("Certificates", "Zertifikate"),
    "usage": ("Usage", "Verwendung"),
    "expires": ("Expires", "Läuft ab"),
    "expiring": ("expires soon", "läuft bald ab"),
    "expired": ("expired", "abgelaufen"),
    "save": ("Save", "Speichern"),
    "edit": ("Edit", "Bearbeiten"),
    "saved": ("Saved.", "Gespeichert."),
    "live": ("Updates every few seconds.", "Aktualisiert sich alle paar Sekunden."),
    "payload_unreadable": ("The payload could not be read", "Die Nachricht konnte nicht gelesen werden"),
    "seconds": ("s", "s"),
    # -- console-wide (issue 12): states, directions, roles, audit values, layout ------------------
    "state.received": ("received", "empfangen"),
    "state.verified": ("signature checked", "Signatur geprüft"),
    "state.validated": ("validated", "geprüft"),
    "state.signed": ("signed", "signiert"),
    "state.queued": ("queued", "eingereiht"),
    "state.sent": ("sent", "gesendet"),
    "state.acknowledged": ("acknowledged", "quittiert"),
    "state.delivered": ("delivered", "zugestellt"),
    "state.confirmed": ("confirmed", "bestätigt"),
    "state.failed": ("failed", "fehlgeschlagen"),
    "state.dead_lettered": ("dead-lettered", "unzustellbar"),
    "state.cancelled": ("cancelled", "abgebrochen"),
    "dir.in": ("in", "Eingang"),
    "dir.out": ("out", "Ausgang"),
    "role.gateway-admin": ("gateway admin", "Gateway-Administration"),
    "role.participant-admin": ("participant admin", "Teilnehmer-Administration"),
    "role.read-only": ("read only", "nur lesen"),
    "sig.unsigned": ("unsigned", "unsigniert"),
    "sig.verified": ("verified", "geprüft"),
    "sig.signed": ("signed by the gateway", "vom Gateway signiert"),
    "sig.refused": ("refused", "abgelehnt"),
    "audit.sign-in": ("sign-in", "Anmeldung"),
    "audit.sign-out": ("sign-out", "Abmeldung"),
    "audit.retry": ("retry", "Erneuter Versuch"),
    "audit.requeue": ("requeue", "Neu-Einreihung"),
    "audit.cancel": ("cancel", "Abbruch"),
    "audit.dead_letter": ("move to dead letter", "Ablage als unzustellbar"),
    "audit.participant.edit": ("edit participant", "Teilnehmer geändert"),
    "result.ok": ("ok", "erfolgreich"),
    "result.refused": ("refused", "abgelehnt"),
    "result.failed": ("failed", "fehlgeschlagen"),
    "outcome.succeeded": ("succeeded", "erfolgreich"),
    "outcome.failed": ("failed", "fehlgeschlagen"),
    "outcome.rejected": ("rejected", "abgewiesen"),
    "route.mailbox": ("mailbox on this gateway", "Postfach auf diesem Gateway"),
    "route.xta": ("XTA", "XTA"),
    "policy.require": ("signature required", "Signatur erforderlich"),
    "policy.accept": ("signature checked when present", "Signatur wird geprüft, wenn vorhanden"),
    "policy.reject": ("must not sign", "darf nicht signieren"),
    "usage.signing": ("signing", "Signatur"),
    "usage.encryption": ("encryption", "Verschlüsselung"),
    "usage.tls": ("TLS", "TLS"),
    "health.ok": ("ok", "in Ordnung"),
    "health.down": ("down", "gestört"),
    "breaker.closed": ("reachable", "erreichbar"),
    "breaker.open": ("unreachable", "nicht erreichbar"),
    "breaker.half_open": ("testing", "wird geprüft"),
    "overdue": ("overdue", "überfällig"),
    "bytes": ("bytes", "Bytes"),
    "copy": ("Copy", "Kopieren"),
    "copied": ("Copied", "Kopiert"),
    "show_full": ("show in full", "vollständig anzeigen"),
    "times_in": ("Times in Europe/Berlin local time.", "Zeiten in Ortszeit Europe/Berlin."),
    "footer": ("Console footer", "Fußzeile der Konsole"),
    "results": ("Search results", "Suchergebnisse"),
    "filters": ("Filter messages", "Nachrichten filtern"),
    "audit_rows": ("Latest entries, newest first", "Neueste Einträge zuerst"),
    "role": ("Role", "Rolle"),
    "language_switch": ("Switch the console to German", "Konsole auf Englisch umstellen"),
    "current_page": ("current page", "aktuelle Seite"),
    "sign_in_intro": (
        "Sign in with your console account.",
        "Melden Sie sich mit Ihrem Konsolenkonto an.",
    ),
    "error_intro": ("Back to the dashboard", "Zurück zur Übersicht"),
    "bad_request": ("Bad request", "Ungültige Anfrage"),
    # guard: refusals before a console route sees the request
    "guard_too_large": ("Request body too large: at most {kib} KiB.", "Anfrage zu groß: höchstens {kib} KiB."),
    "guard_form_only": (
        "Only form data (application/x-www-form-urlencoded) is accepted here.",
        "Hier werden nur Formulardaten (application/x-www-form-urlencoded) angenommen.",
    ),
    "guard_bad_length": ("The Content-Length header is not a number.", "Der Content-Length-Header ist keine Zahl."),
    # dashboard
    "dash_headline": ("At a glance", "Auf einen Blick"),
    "dash_in_flight": ("In flight", "In Bearbeitung"),
    "dash_failed": ("Failed", "Fehlgeschlagen"),
    "dash_dead": ("Dead-lettered", "Unzustellbar"),
    "dash_retrying": ("In delivery retries", "In Zustellwiederholung"),
    "dash_overdue": ("Overdue processes", "Überfällige Prozesse"),
    "dash_oldest": ("Oldest waiting", "Älteste wartende Nachricht"),
    "dash_health": ("Health of the queues", "Zustand der Warteschlangen"),
    "dash_ok": ("healthy", "in Ordnung"),
    "dash_warn": ("degraded", "beeinträchtigt"),
    "dash_bad": ("failing", "gestört"),
    "dash_queue_retrying": ("Retrying", "Wiederholung"),
    "dash_sent_hour": ("Sent (1 h)", "Gesendet (1 Std.)"),
    "dash_failed_hour": ("Failed (1 h)", "Fehlgeschlagen (1 Std.)"),
    "dash_retries_hour": ("Failed tries (1 h)", "Fehlversuche (1 Std.)"),
    "dash_waiting_retry": ("Waiting for a retry", "Warten auf Wiederholung"),
    "dash_stuck": ("Messages in delivery retries", "Nachrichten in Zustellwiederholung"),
    "dash_message": ("Message", "Nachricht"),
    "dash_since": ("Since", "Seit"),
    "dash_last_error": ("Last error", "Letzter Fehler"),
    "dash_breaker": ("Circuit on this node", "Sicherung auf diesem Knoten"),
    "dash_breaker_closed": ("closed", "geschlossen"),
    "dash_breaker_open": ("open", "offen"),
    "dash_breaker_half_open": ("half open", "halb offen"),
    "dash_check": ("Adapter check", "Adapterprüfung"),
    "dash_check_ok": ("answers", "antwortet"),
    "dash_check_down": ("unreachable", "nicht erreichbar"),
    "dash_failures": (
        "Failures of the last 7 days by rule or fault",
        "Fehler der letzten 7 Tage nach Regel oder Ursache",
    ),
    "dash_charts": ("History", "Verlauf"),
    "dash_range": ("Time range", "Zeitraum"),
    "dash_span_hour": ("Last hour", "Letzte Stunde"),
    "dash_span_day": ("Last day", "Letzter Tag"),
    "dash_span_week": ("Last week", "Letzte Woche"),
    "dash_traffic": (
        "Messages per minute (last hour) or per hour",
        "Nachrichten pro Minute (letzte Stunde) oder pro Stunde",
    ),
    "dash_ages": ("Age of the oldest waiting message", "Alter der ältesten wartenden Nachricht"),
    "dash_time": ("Time", "Zeit"),
    "dash_received": ("received", "empfangen"),
    "dash_sent": ("sent", "gesendet"),
    "dash_failed_series": ("failed", "fehlgeschlagen"),
    "dash_needs_js": ("The charts need JavaScript.", "Die Diagramme benötigen JavaScript."),
    "dash_dir_in": ("inbound", "eingehend"),
    "dash_dir_out": ("outbound", "ausgehend"),
    "dash_state_received": ("received", "empfangen"),
    "dash_state_verified": ("verified", "geprüft (Signatur)"),
    "dash_state_validated": ("validated", "validiert"),
    "dash_state_signed": ("signed", "signiert"),
    "dash_state_queued": ("queued", "eingereiht"),
    "dash_state_sent": ("sent", "gesendet"),
    "dash_state_acknowledged": ("acknowledged", "quittiert"),
    "dash_state_delivered": ("delivered", "zugestellt"),
    "dash_state_confirmed": ("confirmed", "bestätigt"),
    "dash_state_failed": ("failed", "fehlgeschlagen"),
    "dash_state_dead_lettered": ("dead-lettered", "unzustellbar"),
    "dash_state_cancelled": ("cancelled", "abgebrochen"),
    # detail
    "d_kopf_sender": ("Sender (Absender in the Kopf)", "Absender (Kopf)"),
    "d_kopf_recipient": ("Recipient (Empfänger in the Kopf)", "Empfänger (Kopf)"),
    "d_kopf_created": ("Created by the sender", "Erstellt beim Absender"),
    "d_kopf_system": ("Sending system", "Sendendes System"),
    "d_kopf_receipt": ("Receipt requested", "Empfangsbestätigung angefordert"),
    "d_kopf_note": ("Note (Hinweis)", "Hinweis"),
    "d_yes": ("yes", "ja"),
    "d_no": ("no", "nein"),
    "d_process_complete": ("complete: no answer outstanding", "abgeschlossen: keine Antwort ausstehend"),
    "d_overdue": ("overdue", "überfällig"),
    "d_process_stalled": (
        "No answer is awaited: the last message did not reach its recipient.",
        "Keine Antwort wird erwartet: die letzte Nachricht hat ihren Empfänger nicht erreicht.",
    ),
    "d_deadline": ("deadline", "Frist"),
    "d_step_done": ("done", "erledigt"),
    "d_step_failed": ("failed", "fehlgeschlagen"),
    "d_step_awaited": ("awaited", "erwartet"),
    "d_step_overdue": ("overdue", "überfällig"),
    "d_step_expected": ("to come", "steht aus"),
    "d_step_optional": ("if requested", "falls angefordert"),
    "d_step_optional_hint": (
        "only when the message it acknowledges asks for a receipt",
        "nur wenn die bestätigte Nachricht eine Empfangsbestätigung anfordert",
    ),
    "d_no_report": (
        "No validation report is stored for this message.",
        "Für diese Nachricht ist kein Prüfbericht gespeichert.",
    ),
    "d_errors": ("errors", "Fehler"),
    "d_warnings": ("warnings", "Warnungen"),
    "d_rechecked": (
        "checked again for this page (the message failed before its report was stored)",
        "für diese Anzeige erneut geprüft (die Nachricht scheiterte, bevor ihr Bericht gespeichert wurde)",
    ),
    "d_severity": ("Severity", "Schwere"),
    "d_rule": ("Rule", "Regel"),
    "d_place": ("Place", "Stelle"),
    "d_finding": ("Message", "Meldung"),
    "d_sev_error": ("error", "Fehler"),
    "d_sev_warning": ("warning", "Warnung"),
    "d_line": ("line", "Zeile"),
    "d_doc_versions": ("version(s)", "Version(en)"),
    # directory
    "dir_default": ("default", "Standard"),
    "dir_unset": ("not set", "nicht gesetzt"),
    "dir_mapping_hint": ("one key = value per line", "je Zeile ein Schlüssel = Wert"),
    "dir_lines_hint": ("one value per line", "je Zeile ein Wert"),
    "dir_saved_participant": ("The directory entry was saved.", "Der Verzeichniseintrag wurde gespeichert."),
    "dir_saved_adapter": ("The DMS adapter was saved.", "Der DMS-Adapter wurde gespeichert."),
    "dir_saved_certificate": ("The certificate is pinned.", "Das Zertifikat ist hinterlegt."),
    "dir_saved_certificate_known": (
        "This certificate was pinned already; nothing changed.",
        "Dieses Zertifikat war bereits hinterlegt; nichts geändert.",
    ),
    "dir_saved_certificate_ended": (
        "The certificate's pin has ended: messages signed with it are refused from now on.",
        "Das Zertifikat ist beendet: damit signierte Nachrichten werden ab jetzt abgelehnt.",
    ),
    "dir_read_only": (
        "Only gateway administrators change directory entries.",
        "Nur Gateway-Administratoren ändern Verzeichniseinträge.",
    ),
    "dir_entry": ("Directory entry", "Verzeichniseintrag"),
    "dir_fix_fields": (
        "Nothing was saved: please correct the marked fields.",
        "Nichts gespeichert: bitte die markierten Felder korrigieren.",
    ),
    "dir_route_kind": ("Delivery", "Zustellung"),
    "dir_route_mailbox": ("mailbox on this gateway", "Postfach auf diesem Gateway"),
    "dir_route_xta": ("remote XTA 2 server", "entfernter XTA-2-Server"),
    "dir_endpoint_help": (
        "Only for a remote XTA 2 server: its https URL.",
        "Nur für einen entfernten XTA-2-Server: dessen https-Adresse.",
    ),
    "dir_trust": ("Signature and sender", "Signatur und Absender"),
    "dir_policy_require": ("require: unsigned messages are refused", "verlangen: unsignierte Nachrichten abweisen"),
    "dir_policy_accept": (
        "accept: verify when signed, unsigned pass",
        "annehmen: prüfen, wenn signiert; unsignierte zulassen",
    ),
    "dir_policy_reject": ("reject: it must not sign", "ablehnen: darf nicht signieren"),
    "dir_sender_identification": ("Sender identification", "Absender-Erkennung"),
    "dir_ident_kennung": (
        "kennung: the Absender must carry its Behördenkennung",
        "Kennung: der Absender muss seine Behördenkennung tragen",
    ),
    "dir_ident_channel": (
        "channel: without Behördenkennung, the authenticated channel identifies it",
        "Kanal: ohne Behördenkennung erkennt ihn der authentifizierte Kanal",
    ),
    "dir_receipts": ("Receipts", "Quittungen"),
    "dir_receipts_effective": ("In effect", "Wirksam"),
    "dir_technical": (
        "Receipts (0102, 0202, 0403, 0504, 0505, 0507)",
        "Empfangsbestätigungen (0102, 0202, 0403, 0504, 0505, 0507)",
    ),
    "dir_confirmations": ("Import confirmations (0402, 0506)", "Importbestätigungen (0402, 0506)"),
    "dir_maker_gateway": ("the gateway", "das Gateway"),
    "dir_maker_recipient": ("the recipient's system", "das System des Empfängers"),
    "dir_derived": ("derived from route and adapter", "aus Route und Adapter abgeleitet"),
    "dir_derived_from": ("derived from", "abgeleitet aus"),
    "dir_adapter_kind": ("Adapter kind", "Adapter-Art"),
    "dir_no_adapter": ("no DMS adapter", "kein DMS-Adapter"),
    "dir_no_adapter_help": (
        "Messages stay in the participant's mailbox until its own system fetches them.",
        "Nachrichten bleiben im Postfach, bis das eigene System des Teilnehmers sie abholt.",
    ),
    "dir_show_fields": ("Show its fields", "Felder anzeigen"),
    "dir_adapter_unknown": (
        "This adapter kind is not installed or has no configuration model; change it with xgw participants import.",
        "Diese Adapter-Art ist nicht installiert oder hat kein Konfigurationsmodell; "
        "Änderung mit xgw participants import.",
    ),
    "dir_adapter_new_kind": (
        "A new adapter kind: its settings start empty; saving replaces the current adapter.",
        "Neue Adapter-Art: die Einstellungen beginnen leer; Speichern ersetzt den bisherigen Adapter.",
    ),
    "dir_remove_adapter": ("Remove the adapter", "Adapter entfernen"),
    "dir_subject": ("Subject (CN)", "Inhaber (CN)"),
    "dir_valid_from": ("Valid from", "Gültig ab"),
    "dir_days_left": ("Days left", "Tage übrig"),
    "dir_not_yet": ("not yet valid", "noch nicht gültig"),
    "dir_end_pin": ("End pin", "Beenden"),
    "dir_expiry_note": (
        "Highlighted: expired, or ending within {days} days. Ending a pin keeps the certificate as a record.",
        "Hervorgehoben: abgelaufen oder endet in weniger als {days} Tagen. "
        "Ein beendetes Zertifikat bleibt als Nachweis gelistet.",
    ),
    "dir_add_certificate": ("Pin a signing certificate", "Signaturzertifikat hinterlegen"),
    "dir_pem_file": ("PEM file", "PEM-Datei"),
    "dir_pem": ("or the PEM text", "oder der PEM-Text"),
    "dir_pin": ("Pin", "Hinterlegen"),
    "dir_days": ("days", "Tage"),
    "dir_more_settings": ("Settings with a default", "Einstellungen mit Standardwert"),
    "dir_new": ("New participant", "Neuer Teilnehmer"),
    "dir_create": ("Create", "Anlegen"),
    "dir_id": ("XÖV identifier", "XÖV-Kennung"),
    "dir_id_help": (
        "prefix:Behördenkennung, e.g. psw:16077000; it never changes once messages refer to it.",
        "Präfix:Behördenkennung, z. B. psw:16077000; sie ändert sich nie, sobald Nachrichten darauf verweisen.",
    ),
    "dir_id_taken": ("This identifier is in the directory already.", "Diese Kennung steht bereits im Verzeichnis."),
    # sign-in
    "directory_unreachable": (
        "The directory cannot be reached; please try again later or sign in with a local account.",
        "Das Verzeichnis ist nicht erreichbar; bitte später erneut versuchen oder mit einem lokalen Konto anmelden.",
    ),
    # alerts
    "alerts": ("Alerts", "Warnungen"),
}

#: keys whose English and German texts are rightly the same (names, codes, units)
SAME_IN_BOTH = frozenset({"process", "name", "route", "adapter", "seconds", "route.xta", "usage.tls"})


def pick_language(request: Request) -> str:
    """``?lang=``, then the cookie, then the browser's preference between German and English, else German."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")[:20]):
        code, _, params = part.strip().partition(";")
        code = code.strip().lower()[:2]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        q -= position / 1000  # equal weights: the first named wins
        if code in LANGUAGES and q > best_q:
            best, best_q = code, q
    return best


def translate(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang``; ``values`` fill its ``{name}`` fields. A missing key is marked."""
    entry = CATALOGUE.get(key)
    if entry is None:
        if len(MISSING) < MAX_MISSING:
            MISSING.add(key)
        return MISSING_MARK.format(key)
    text = entry[1] if lang == "de" else entry[0]
    return text.format(**values) if values else text


def label(lang: str, group: str, value: object) -> str:
    """A value of an enumeration (``state``, ``dir``, ``audit``, ...) as text; an unknown one as it is.

    Used for values that come from the database, where a value this version does not know (an action a
    newer node audited) must still be shown rather than marked missing."""
    raw = getattr(value, "value", value)
    entry = CATALOGUE.get(f"{group}.{raw}")
    if entry is None:
        return str(raw)
    return entry[1] if lang == "de" else entry[0]


# -- the pipeline's sentences ------------------------------------------------------------------------------
#
# Each entry: the English sentence as the pipeline writes it (a regular expression matched in full), and its
# German text with the captured groups as {fields}. Groups named state/from_state/to_state are translated as
# states, sig as a signature status, n/size as numbers, note/actor/id and the rest are kept as written.
# A reason may be several sentences joined by "; " (a delivery that also acknowledges, the answers made);
# the whole text is tried first, then each part.

_ID = r"[0-9a-f-]{8,36}"
PHRASES: list[tuple[str, str]] = [
    # intake
    (
        r"received via (?P<channel>\w+)(?: as (?P<file>.+?))? \((?P<size>\d+) bytes, SHA-256 (?P<sha>[0-9a-f]+)\)",
        "empfangen über {channel}{file_as} ({size} Bytes, SHA-256 {sha})",
    ),
    (
        r"signature (?P<sig>\w+)(?: by certificate (?P<fp>\S+))?",
        "Signatur {sig}{fp_by}",
    ),
    (
        r"valid xdomea (?P<version>\S+) (?P<type>\d{4}) \((?P<n>\d+) warning\(s\)\)",
        "gültige xdomea-{version}-Nachricht {type} ({n} Warnung(en))",
    ),
    (
        r"the participant's own (?P<type>\d{4}) arrived as message (?P<id>" + _ID + r"); "
        r"this one was made by the gateway on its behalf",
        "die eigene {type} des Teilnehmers kam als Nachricht {id} an; diese hier hat das Gateway für ihn erstellt",
    ),
    # outbound steps
    (
        "already signed by the sender \\(signature verified at intake\\)",
        "bereits vom Absender signiert (Signatur beim Eingang geprüft)",
    ),
    (
        "not signed: packages carry no signature in this version",
        "nicht signiert: Pakete tragen in dieser Version keine Signatur",
    ),
    (
        r"not signed: no signing key for (?P<id>\S+), its policy allows unsigned messages",
        "nicht signiert: kein Signaturschlüssel für {id}, seine Richtlinie erlaubt unsignierte Nachrichten",
    ),
    (r"signed with certificate (?P<fp>\S+)", "signiert mit Zertifikat {fp}"),
    (r"route (?P<route>\w+) to (?P<id>\S+)", "Weg {route} zu {id}"),
    (r"in the mailbox as (?P<id>\S+)", "im Postfach als {id}"),
    (r"already in the mailbox as (?P<id>\S+)", "bereits im Postfach als {id}"),
    (
        r"XTA (?P<xid>\S+) accepted by (?P<peer>\S+), report status (?P<status>\d+)"
        r"(?P<again> \(already there: 9024 confirmed by the report\))?",
        "XTA {xid} von {peer} angenommen, Transportbericht-Status {status}{again_de}",
    ),
    (
        r"delivered on this gateway from outbound message (?P<id>" + _ID + ")",
        "auf diesem Gateway zugestellt aus der ausgehenden Nachricht {id}",
    ),
    # inbound steps
    (r"in the mailbox of (?P<id>\S+)", "im Postfach von {id}"),
    (
        r"imported into the DMS of (?P<id>\S+) \((?P<kind>[^,]+), (?P<status>[^)]+)\)(?: as (?P<location>.+))?",
        "in das DMS von {id} importiert ({kind}, {status}){location_as}",
    ),
    (r"acknowledges message (?P<id>" + _ID + ")", "quittiert Nachricht {id}"),
    (r"answered by (?P<type>\d{4}) \(message (?P<id>" + _ID + r")\)", "beantwortet durch {type} (Nachricht {id})"),
    (
        r"Empfangsbestaetigung (?P<code>\d{4}) sent as message (?P<id>" + _ID + ")",
        "Empfangsbestätigung {code} gesendet als Nachricht {id}",
    ),
    (
        r"Importbestaetigung (?P<code>\d{4}) \((?P<n>\d+) imported, (?P<n2>\d+) failed\) sent as message (?P<id>"
        + _ID
        + ")",
        "Importbestätigung {code} ({n} importiert, {n2} fehlgeschlagen) gesendet als Nachricht {id}",
    ),
    ("nothing to answer", "nichts zu beantworten"),
    # XTA mailbox
    (
        r"fetched by (?P<account>\S+) from its XTA MsgBox as (?P<xid>\S+)",
        "von {account} aus seinem XTA-Postfach abgeholt als {xid}",
    ),
    (
        r"receipt confirmed by (?P<account>\S+) \(XTA close of (?P<xid>\S+)\)",
        "Empfang bestätigt von {account} (XTA close für {xid})",
    ),
    (
        "the pipeline confirms it once its answer is made",
        "die Verarbeitung bestätigt sie, sobald ihre Antwort erstellt ist",
    ),
    (
        r"withdrawn by its author \(XTA cancelMessage (?P<xid>\S+)\)",
        "vom Absender zurückgezogen (XTA cancelMessage {xid})",
    ),
    # retries and failures
    (r"try (?P<n>\d+) failed; next try in (?P<n2>\d+) s", "Versuch {n} fehlgeschlagen; nächster Versuch in {n2} s"),
    (r"given up after (?P<n>\d+) tries", "nach {n} Versuchen aufgegeben"),
    ("refused", "abgelehnt"),
    (r"lease of worker (?P<worker>\S+) expired at (?P<time>\S+)", "Sperre des Workers {worker} abgelaufen um {time}"),
    (
        "the message did not finish within its tries \\(a worker may have died on it\\)",
        "die Nachricht wurde in ihren Versuchen nicht fertig (vielleicht ist ein Worker dabei ausgefallen)",
    ),
    (r"(?P<peer>\S+) refused the message: (?P<detail>.+)", "{peer} hat die Nachricht abgelehnt: {detail}"),
    (r"the peer's transport report is red: (?P<detail>.+)", "der Transportbericht der Gegenstelle ist rot: {detail}"),
    (
        r"the recipient (?P<id>\S+) is no longer in the participant directory",
        "der Empfänger {id} steht nicht mehr im Teilnehmerverzeichnis",
    ),
    (
        r"the DMS of (?P<id>\S+) did not import the message \((?P<status>[^)]+)\): (?P<detail>.+)",
        "das DMS von {id} hat die Nachricht nicht importiert ({status}): {detail}",
    ),
    # operator actions (gateway/pipeline/operations.py, gateway/console/actions.py)
    (r"cancelled by (?P<actor>\S+)(?:: (?P<note>.*))?", "abgebrochen von {actor}{note_colon}"),
    (
        r"retry from (?P<state>\w+) by (?P<actor>\S+)(?:: (?P<note>.*))?",
        "erneuter Versuch ab {state} durch {actor}{note_colon}",
    ),
    (
        r"requeued: due now by (?P<actor>\S+)(?:: (?P<note>.*))?",
        "neu eingereiht, sofort fällig, durch {actor}{note_colon}",
    ),
    (
        r"requeued from (?P<from_state>\w+) to (?P<to_state>\w+): do it again by (?P<actor>\S+)(?:: (?P<note>.*))?",
        "neu eingereiht von {from_state} nach {to_state}, noch einmal, durch {actor}{note_colon}",
    ),
    (
        r"moved to the dead letter by (?P<actor>\S+)(?:: (?P<note>.*))?",
        "als unzustellbar abgelegt von {actor}{note_colon}",
    ),
    # refusals of operator actions
    (
        r"a message in state (?P<state>\w+) cannot be cancelled \(any more\)",
        "eine Nachricht im Status {state} kann nicht (mehr) abgebrochen werden",
    ),
    (
        r"only failed or dead-lettered messages are retried, not (?P<state>\w+)",
        "nur fehlgeschlagene oder unzustellbare Nachrichten werden erneut versucht, nicht {state}",
    ),
    (
        r"the history does not say which step the (?P<state>\w+) message failed in",
        "der Verlauf sagt nicht, in welchem Schritt die Nachricht ({state}) fehlschlug",
    ),
    (
        r"the history does not say which step made the message (?P<state>\w+)",
        "der Verlauf sagt nicht, welcher Schritt die Nachricht in den Status {state} brachte",
    ),
    (
        r"a message in state (?P<state>\w+) cannot be requeued",
        "eine Nachricht im Status {state} kann nicht neu eingereiht werden",
    ),
    (
        r"a message in state (?P<state>\w+) cannot be moved to the dead letter",
        "eine Nachricht im Status {state} kann nicht als unzustellbar abgelegt werden",
    ),
    (
        "a worker is processing the message or its state just changed; try again",
        "ein Worker bearbeitet die Nachricht gerade oder ihr Status hat sich eben geändert; bitte erneut versuchen",
    ),
    ("a read-only user cannot act on messages", "ein Benutzer mit Leserechten kann keine Aktionen ausführen"),
    # audit details (gateway/console/routes_auth.py, actions.py, routes_directory.py)
    ("throttled", "gebremst (zu viele Fehlversuche)"),
    ("wrong name or password", "falscher Name oder falsches Passwort"),
    ("no such message", "keine solche Nachricht"),
    ("role", "Rolle erlaubt es nicht"),
    (r"(?P<from_state>\w+) -> (?P<to_state>\w+)(?:; note: (?P<note>.*))?", "{from_state} → {to_state}{note_semicolon}"),
    # search filters (gateway/console/search.py)
    (
        r"(?P<field>since|until): not a date and time like (?P<example>\S+)",
        "{field_label}: kein Datum mit Uhrzeit wie {example}",
    ),
    (r"(?P<field>\w+): at most (?P<n>\d+) characters", "{field_label}: höchstens {n} Zeichen"),
    ("type: a Nachrichtentyp code of four digits, e.g. 0503", "Typ: ein vierstelliger Nachrichtentyp, z. B. 0503"),
    (r"unknown state or direction: (?P<detail>.+)", "unbekannter Status oder unbekannte Richtung: {detail}"),
]
_STATES = "|".join(key.split(".", 1)[1] for key in CATALOGUE if key.startswith("state."))
# the audit detail of a refused action: the state the message was in, then the refusal
PHRASES.append((r"(?P<state>" + _STATES + r"): (?P<refusal>.+)", "Status {state}: {refusal_phrase}"))
_COMPILED = [(re.compile(pattern), german) for pattern, german in PHRASES]
_FIELDS = {
    "since": "from",
    "until": "until",
    "q": "text",
    "process": "process",
    "type": "type",
    "participant": "participant",
    "state": "state",
    "direction": "direction",
}


def _fill(lang: str, match: re.Match[str], german: str, number: Callable[[str], str]) -> str:
    groups = {k: (v or "") for k, v in match.groupdict().items()}
    values: dict[str, str] = dict(groups)
    for key, value in groups.items():
        if key in ("state", "from_state", "to_state"):
            values[key] = label(lang, "state", value)
        elif key == "sig":
            values[key] = label(lang, "sig", value)
        elif key in ("n", "n2", "size") and value:
            values[key] = number(value)
        elif key == "refusal":
            values["refusal_phrase"] = str(phrase_text(lang, value, number) or value)
        elif key == "field":
            values["field_label"] = translate(lang, _FIELDS.get(value, "search"))
    values["file_as"] = f" als {groups['file']}" if groups.get("file") else ""
    values["fp_by"] = f" mit Zertifikat {groups['fp']}" if groups.get("fp") else ""
    values["location_as"] = f" als {groups['location']}" if groups.get("location") else ""
    values["again_de"] = " (bereits vorhanden: 9024, vom Bericht bestätigt)" if groups.get("again") else ""
    values["note_colon"] = f": {groups['note']}" if groups.get("note") else ""
    values["note_semicolon"] = f"; Notiz: {groups['note']}" if groups.get("note") else ""
    return german.format(**values)


def phrase_text(lang: str, text: str, number: Callable[[str], str] = str) -> str | None:
    """The German text of one known sentence, or None."""
    for pattern, german in _COMPILED:
        match = pattern.fullmatch(text)
        if match is not None:
            return _fill(lang, match, german, number)
    return None


def phrase(lang: str, text: str | None, number: Callable[[str], str] = str) -> Markup:
    """A sentence of the pipeline for display: German where known, else as written and marked English."""
    if not text:
        return Markup("")
    if lang != "de":
        return escape(text)
    whole = phrase_text(lang, text, number)
    if whole is not None:
        return escape(whole)
    parts = []
    for part in text.split("; "):
        german = phrase_text(lang, part, number)
        parts.append(escape(german) if german is not None else Markup('<span lang="en">{}</span>').format(part))
    return Markup("; ").join(parts)
