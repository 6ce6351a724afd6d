"""The table of every rule the gateway checks, with its stable id, severity and bilingual message.

Ids never change meaning once published: authorities filter and count on them (and the metrics label
validation failures by them). Add new rules at the end of their group. Messages are ``str.format``
templates; the parameters each rule takes are the placeholders in its text. docs/rules.md is generated
from this table by ``xgw rules --markdown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Literal["error", "warning"]
    title: str
    message_en: str
    message_de: str


_E: Literal["error"] = "error"
_W: Literal["warning"] = "warning"

# fmt: off
_RULES = [
    # --- input and safe parsing -------------------------------------------------------------------
    Rule("XGW-IN-001", _E, "Input not readable",
         "The input cannot be read: {reason}",
         "Die Eingabe kann nicht gelesen werden: {reason}"),
    Rule("XGW-IN-002", _E, "Empty input",
         "The input is empty.",
         "Die Eingabe ist leer."),
    Rule("XGW-IN-003", _E, "Input too large",
         "The input has {size} bytes, more than the limit of {limit} bytes.",
         "Die Eingabe hat {size} Bytes, mehr als die Grenze von {limit} Bytes."),
    Rule("XGW-IN-004", _E, "Not XML or ZIP",
         "The input is neither XML nor a ZIP package.",
         "Die Eingabe ist weder XML noch ein ZIP-Paket."),
    Rule("XGW-XML-001", _E, "Not well-formed",
         "The XML is not well-formed: {reason}",
         "Das XML ist nicht wohlgeformt: {reason}"),
    Rule("XGW-XML-002", _E, "DTD forbidden",
         "Document type declarations (DTD) are not allowed in xdomea messages.",
         "Dokumenttyp-Deklarationen (DTD) sind in xdomea-Nachrichten nicht erlaubt."),
    Rule("XGW-XML-003", _E, "Entity forbidden",
         "Entity references and declarations are not allowed: {reason}",
         "Entity-Referenzen und -Deklarationen sind nicht erlaubt: {reason}"),
    Rule("XGW-XML-004", _E, "Nesting too deep",
         "The XML nests deeper than the limit of {limit} elements.",
         "Das XML ist tiefer verschachtelt als die Grenze von {limit} Elementen."),
    Rule("XGW-XML-005", _E, "Too many elements",
         "The XML has more than the limit of {limit} elements.",
         "Das XML hat mehr Elemente als die Grenze von {limit}."),
    Rule("XGW-XML-006", _E, "Text node too large",
         "A text node is larger than the limit of {limit} bytes.",
         "Ein Textknoten ist größer als die Grenze von {limit} Bytes."),
    Rule("XGW-XML-007", _E, "Processing instruction or external reference",
         "The XML contains a forbidden construct: {reason}",
         "Das XML enthält ein verbotenes Konstrukt: {reason}"),
    # --- identifying the message --------------------------------------------------------------------
    Rule("XGW-NS-001", _E, "Not an xdomea message",
         "The root element {element} is not in an xdomea namespace (urn:xoev-de:xdomea:schema:<version>).",
         "Das Wurzelelement {element} liegt in keinem xdomea-Namensraum (urn:xoev-de:xdomea:schema:<Version>)."),
    Rule("XGW-NS-002", _E, "Unsupported xdomea version",
         "xdomea version {version} is not supported; supported: {supported}.",
         "xdomea-Version {version} wird nicht unterstützt; unterstützt: {supported}."),
    Rule("XGW-NS-003", _E, "Unknown message element",
         "{element} is not a message of xdomea {version} in the loaded schemas.",
         "{element} ist keine Nachricht von xdomea {version} in den geladenen Schemata."),
    Rule("XGW-NS-004", _W, "Namespace prefix not xdomea",
         "The xdomea namespace is bound to prefix '{prefix}'; the specification requires 'xdomea'.",
         "Der xdomea-Namensraum ist an das Präfix '{prefix}' gebunden; die Spezifikation verlangt 'xdomea'."),
    # --- XML Schema ---------------------------------------------------------------------------------
    Rule("XGW-XSD-001", _E, "Schema violation",
         "{reason}",
         "Schemaverletzung: {reason}"),
    Rule("XGW-XSD-002", _E, "Fixed value written in another lexical form",
         "{element} must be written exactly as '{fixed}' (the schema fixes it; '{value}' is rejected by "
         "libxml2-based archive software even though it means the same).",
         "{element} muss genau als '{fixed}' geschrieben werden (das Schema legt den Wert fest; '{value}' "
         "wird von libxml2-basierter Archivsoftware abgelehnt, obwohl es dasselbe bedeutet)."),
    # --- Kopf (header) ------------------------------------------------------------------------------
    Rule("XGW-HDR-001", _E, "Nachrichtentyp does not match the message",
         "The Kopf declares Nachrichtentyp {declared}, but the message element is {element} ({expected}).",
         "Der Kopf nennt den Nachrichtentyp {declared}, das Nachrichtenelement ist aber {element} "
         "({expected})."),
    Rule("XGW-HDR-002", _E, "ProzessID is not a UUID",
         "The ProzessID '{value}' is not a UUID.",
         "Die ProzessID '{value}' ist keine UUID."),
    Rule("XGW-HDR-003", _E, "Absender or Empfaenger missing",
         "The Kopf has no {party}.",
         "Der Kopf enthält keinen {party}."),
    Rule("XGW-HDR-004", _E, "Absender or Empfaenger not identifiable",
         "{party} names neither an institution, an organisational unit, a person nor an authority key.",
         "{party} nennt weder Institution, Organisationseinheit, Person noch Behördenkennung."),
    Rule("XGW-HDR-005", _W, "Placeholder text in the Kopf",
         "{party} still contains the template placeholder '{value}'.",
         "{party} enthält noch den Vorlagen-Platzhalter '{value}'."),
    Rule("XGW-HDR-006", _W, "Nachrichtentyp name does not match its code",
         "Nachrichtentyp code {code} is named '{name}' in the message but '{expected}' in the code list.",
         "Der Nachrichtentyp-Code {code} heißt in der Nachricht '{name}', in der Codeliste aber "
         "'{expected}'."),
    Rule("XGW-HDR-007", _W, "Absender identified by the channel",
         "The Absender carries no Behördenkennung; the gateway identified the sender as {participant} by the "
         "authenticated channel ({channel}).",
         "Der Absender enthält keine Behördenkennung; das Gateway hat den Absender über den authentifizierten "
         "Kanal ({channel}) als {participant} bestimmt."),
    Rule("XGW-HDR-008", _W, "Empfaenger identified by the channel or the process",
         "The Empfaenger carries no Behördenkennung; the gateway delivers the message to {participant}, named "
         "by {source}.",
         "Der Empfänger enthält keine Behördenkennung; das Gateway stellt die Nachricht {participant} zu, "
         "bestimmt durch {source_de}."),
    # --- file and package names ---------------------------------------------------------------------
    Rule("XGW-NAME-001", _E, "File name does not follow the naming rule",
         "The name '{name}' does not follow the xdomea {version} naming rule ({pattern}).",
         "Der Name '{name}' folgt nicht der Namensregel von xdomea {version} ({pattern})."),
    Rule("XGW-NAME-002", _E, "ProzessID in the name differs from the Kopf",
         "The name carries ProzessID {in_name}, the Kopf {in_kopf}.",
         "Der Name trägt die ProzessID {in_name}, der Kopf {in_kopf}."),
    Rule("XGW-NAME-003", _E, "Nachrichtentyp in the name differs from the message",
         "The name says message type {in_name}, the message is {actual}.",
         "Der Name nennt den Nachrichtentyp {in_name}, die Nachricht ist {actual}."),
    # --- ZIP packages -------------------------------------------------------------------------------
    Rule("XGW-ZIP-001", _E, "Not a readable ZIP package",
         "The package cannot be read as ZIP: {reason}",
         "Das Paket kann nicht als ZIP gelesen werden: {reason}"),
    Rule("XGW-ZIP-002", _E, "Unsafe entry name",
         "The entry name '{name}' is unsafe: {reason}.",
         "Der Eintragsname '{name}' ist unsicher: {reason}."),
    Rule("XGW-ZIP-003", _E, "Duplicate entry",
         "The entry '{name}' occurs more than once.",
         "Der Eintrag '{name}' kommt mehrfach vor."),
    Rule("XGW-ZIP-004", _E, "Link or special entry",
         "The entry '{name}' is a symbolic link or special file.",
         "Der Eintrag '{name}' ist ein symbolischer Link oder eine Spezialdatei."),
    Rule("XGW-ZIP-005", _E, "Package limits exceeded",
         "The package exceeds a limit: {reason}.",
         "Das Paket überschreitet eine Grenze: {reason}."),
    Rule("XGW-ZIP-006", _E, "Suspicious compression (zip bomb)",
         "The entry '{name}' {reason}.",
         "Der Eintrag '{name}': {reason}."),
    Rule("XGW-ZIP-007", _E, "Overlapping entries (zip bomb)",
         "The entries '{name}' and '{other}' overlap in the file.",
         "Die Einträge '{name}' und '{other}' überlappen sich in der Datei."),
    Rule("XGW-ZIP-008", _E, "Message XML missing from the package",
         "The package contains no message XML named '{expected}'.",
         "Das Paket enthält keine Nachrichten-XML namens '{expected}'."),
    Rule("XGW-ZIP-009", _E, "Primary document missing",
         "Primaerdokument '{name}' is referenced but not in the package.",
         "Das Primärdokument '{name}' wird referenziert, fehlt aber im Paket."),
    Rule("XGW-ZIP-010", _E, "Primary document referenced twice",
         "Primaerdokument '{name}' is referenced {count} times; each file belongs to one Format.",
         "Das Primärdokument '{name}' wird {count}-mal referenziert; jede Datei gehört zu einem Format."),
    Rule("XGW-ZIP-011", _W, "Unreferenced file in the package",
         "The file '{name}' is in the package but no Primaerdokument names it.",
         "Die Datei '{name}' liegt im Paket, aber kein Primärdokument nennt sie."),
    Rule("XGW-ZIP-012", _E, "Entry data corrupt",
         "The entry '{name}' is corrupt: {reason}.",
         "Der Eintrag '{name}' ist beschädigt: {reason}."),
    Rule("XGW-ZIP-013", _E, "Encrypted or unsupported entry",
         "The entry '{name}' cannot be read: {reason}.",
         "Der Eintrag '{name}' kann nicht gelesen werden: {reason}."),
    Rule("XGW-ZIP-014", _E, "More than one message XML",
         "The package holds more than one message XML: {names}.",
         "Das Paket enthält mehr als eine Nachrichten-XML: {names}."),
    Rule("XGW-ZIP-015", _E, "Primary document hash mismatch",
         "Primaerdokument '{name}' has {algorithm} {actual}, but the message declares {declared}.",
         "Das Primärdokument '{name}' hat den {algorithm}-Wert {actual}, die Nachricht nennt aber {declared}."),
    Rule("XGW-ZIP-016", _W, "Hash algorithm not checked",
         "The hash algorithm '{algorithm}' declared for '{name}' is not supported; the file was not checked.",
         "Der für '{name}' angegebene Hash-Algorithmus '{algorithm}' wird nicht unterstützt; die Datei wurde "
         "nicht geprüft."),
    # --- content rules beyond XSD -------------------------------------------------------------------
    Rule("XGW-CODE-001", _E, "Code not in the code list",
         "Code '{code}' is not in code list {list_uri} version {list_version}.",
         "Der Code '{code}' ist nicht in der Codeliste {list_uri} Version {list_version}."),
    Rule("XGW-CODE-002", _W, "Code list not available",
         "Code list {list_uri} version {list_version} is not in the schema bundle; values were not checked.",
         "Die Codeliste {list_uri} Version {list_version} fehlt im Schemapaket; Werte wurden nicht geprüft."),
    Rule("XGW-CODE-003", _W, "Code not in a general XÖV code list",
         "Code '{code}' is not in code list {list_uri} version {list_version} (a general XÖV list, not one of "
         "xdomea's own; archives do not interpret it).",
         "Der Code '{code}' ist nicht in der Codeliste {list_uri} Version {list_version} (eine allgemeine "
         "XÖV-Liste, keine xdomea-eigene; Archive werten sie nicht aus)."),
    Rule("XGW-TREE-001", _E, "Records nested too deeply",
         "Akten, Vorgänge and Dokumente nest {depth} levels deep, more than the limit of {limit}.",
         "Akten, Vorgänge und Dokumente sind {depth} Ebenen tief verschachtelt, mehr als die Grenze von "
         "{limit}."),
    Rule("XGW-TREE-002", _E, "Duplicate record identifier",
         "The identifier {value} is used by more than one Schriftgutobjekt.",
         "Die Kennung {value} wird von mehr als einem Schriftgutobjekt verwendet."),
    # --- setup --------------------------------------------------------------------------------------
    Rule("XGW-SETUP-001", _E, "Schema bundle unusable",
         "The schema bundle cannot be used: {reason}",
         "Das Schemapaket kann nicht verwendet werden: {reason}"),
    # --- XML signatures (XMLDSig) ---------------------------------------------------------------------
    Rule("XGW-SIG-001", _E, "Signature missing",
         "The message is not signed, but {participant} must sign its messages.",
         "Die Nachricht ist nicht signiert, {participant} muss seine Nachrichten aber signieren."),
    Rule("XGW-SIG-002", _E, "Signature not allowed",
         "The message is signed, but signatures from {participant} are configured to be refused.",
         "Die Nachricht ist signiert, Signaturen von {participant} werden laut Konfiguration aber abgelehnt."),
    Rule("XGW-SIG-003", _E, "Signature does not match the content",
         "The signature does not match the message: the content or the signature was changed after signing "
         "({reason}).",
         "Die Signatur passt nicht zur Nachricht: Inhalt oder Signatur wurden nach dem Signieren verändert "
         "({reason})."),
    Rule("XGW-SIG-004", _E, "Signing certificate not trusted",
         "The signing certificate {subject} (SHA-256 {fingerprint}) is not trusted for {participant}: {reason}",
         "Das Signaturzertifikat {subject} (SHA-256 {fingerprint}) ist für {participant} nicht vertrauenswürdig: "
         "{reason}"),
    Rule("XGW-SIG-005", _E, "Certificate expired",
         "The certificate {subject} (SHA-256 {fingerprint}) was valid until {not_after}; the signature was "
         "checked at {checked_at}.",
         "Das Zertifikat {subject} (SHA-256 {fingerprint}) war bis {not_after} gültig; die Signatur wurde am "
         "{checked_at} geprüft."),
    Rule("XGW-SIG-006", _E, "Certificate not yet valid",
         "The certificate {subject} (SHA-256 {fingerprint}) is valid only from {not_before}; the signature was "
         "checked at {checked_at}.",
         "Das Zertifikat {subject} (SHA-256 {fingerprint}) ist erst ab {not_before} gültig; die Signatur wurde "
         "am {checked_at} geprüft."),
    Rule("XGW-SIG-007", _E, "Signed by another participant",
         "The message claims to come from {participant} but is signed with a certificate of {signer} "
         "({subject}, SHA-256 {fingerprint}).",
         "Die Nachricht gibt {participant} als Absender an, ist aber mit einem Zertifikat von {signer} "
         "signiert ({subject}, SHA-256 {fingerprint})."),
    Rule("XGW-SIG-008", _E, "Signature does not cover the whole message",
         "The signature is not one enveloped signature over the whole message (possible signature wrapping): "
         "{reason}",
         "Die Signatur ist keine einzelne umschlossene Signatur über die ganze Nachricht (mögliches Signature "
         "Wrapping): {reason}"),
    Rule("XGW-SIG-009", _E, "Weak or unsupported algorithm",
         "The signature uses {algorithm}, which the gateway does not accept (SHA-1 and unknown algorithms are "
         "refused).",
         "Die Signatur verwendet {algorithm}; das Gateway akzeptiert diesen Algorithmus nicht (SHA-1 und "
         "unbekannte Algorithmen werden abgelehnt)."),
    Rule("XGW-SIG-010", _E, "Signature malformed",
         "The signature element cannot be read: {reason}",
         "Das Signaturelement ist nicht lesbar: {reason}"),
]
# fmt: on

RULES: dict[str, Rule] = {r.id: r for r in _RULES}
assert len(RULES) == len(_RULES), "rule ids must be unique"
