"""German and English interface text: one catalogue, the language from a toggle (cookie) or Accept-Language."""

from __future__ import annotations

from starlette.requests import Request

LANGUAGES = ("en", "de")
LANG_COOKIE = "xgw_console_lang"

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
    # sign-in
    "directory_unreachable": (
        "The directory cannot be reached; please try again later or sign in with a local account.",
        "Das Verzeichnis ist nicht erreichbar; bitte später erneut versuchen oder mit einem lokalen Konto anmelden.",
    ),
    # alerts
    "alerts": ("Alerts", "Warnungen"),
}


def pick_language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def translate(lang: str, key: str) -> str:
    entry = CATALOGUE.get(key)
    if entry is None:
        return key
    return entry[1] if lang == "de" else entry[0]
