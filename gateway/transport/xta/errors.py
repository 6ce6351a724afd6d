"""XTA error codes and the typed exceptions the backend raises; each one becomes exactly one SOAP fault.

The backend speaks in gateway terms ("this account is unknown", "this message id is taken"); the SOAP layer
turns each exception into the XTA exception element the WSDL declares for it, carrying the code of the
XTA code list ``urn:de:xta:webservice:codeliste:fehlernummer`` (``Code.Fehlernummer`` in
``XTA-Webservice-Datentypen.xsd``). The names below are the list's ``codeName`` texts verbatim, because
clients show them to users; a test compares this table with the XSD so the two cannot drift apart.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(Enum):
    """One entry of the XTA error code list: the value is ``(code, name)``."""

    UNSPECIFIED = ("9000", "Unspezifizierter Fehler, als Freitext beschrieben")
    CERTIFICATE_EXPIRED = ("9010", "Authentisierung/Zertifikat ist abgelaufen.")
    ACCOUNT_LOCKED = ("9011", "Account ist gesperrt.")
    ACCOUNT_UNKNOWN = ("9012", "Account nicht vorhanden.")
    SERVICE_NOT_BOOKED = ("9013", "Dienst ist nicht gebucht.")
    IDENTITY_MISMATCH = ("9014", "Authentisierung/Zertifikat passt nicht zur Absenderkennung.")
    NO_PARAMETERS = ("9020", "Keine Parameter vorhanden")
    INVALID_URI = ("9021", "Keine gültige URI")
    INVALID_PARAMETER_COMBINATION = ("9022", "Ungültige Parameterkombination")
    MESSAGE_TOO_LARGE = ("9023", "Die Nachricht überschreitet die Größenbeschränkung.")
    MESSAGE_ID_ALREADY_USED = ("9024", "MessageID ist bereits vergeben.")
    INTERNAL_ERROR = ("9030", "Interner Fehler beim XTA-Server bzw. XTA-Dienstleister")
    DIRECTORY_ERROR = ("9031", "Fehler beim externen Verzeichnisdienst")
    DELIVERY_ERROR = ("9032", "Fehler bei der Zustellung")
    SCHEMA_VIOLATION = ("9050", "Fachnachricht ist nicht schemakonform")
    WRONG_ENCODING = ("9051", "Fachnachricht trägt ein falsches Encoding.")
    SERVICE_PROFILE_VIOLATION = ("9052", "Nachricht verletzt das entsprechende Service Profil.")
    VIRUS_DETECTED = ("9060", "Es wurde schadhafter Code ermittelt.")
    MESSAGE_ID_UNKNOWN = ("9070", "MessageID für den Account nicht bekannt.")
    ASYNC_ONLY = ("9080", "Der Dienst wird nur asynchron angeboten.")
    SYNC_ONLY = ("9081", "Der Dienst wird nur synchron angeboten.")
    NOT_BEFORE_PASSED = ("9100", "Der durch den Schalter NotBefore gesetzte Termin ist verstrichen.")
    NOT_BEFORE_NOT_SET = ("9101", "Der Schalter NotBefore wurde nicht gesetzt.")

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


class XtaError(Exception):
    """Base of every error that reaches an XTA client as a fault.

    ``element`` is the local name of the fault detail element in the XTA namespace, ``sender_fault`` says
    whether SOAP blames the request (``env:Sender``) or the server (``env:Receiver``), and ``detail`` is
    free text for the fault's Reason, so an operator reading a client log learns what to fix.
    """

    element = "XTAWSTechnicalProblemException"
    sender_fault = False
    allowed: frozenset[ErrorCode] = frozenset()

    def __init__(self, code: ErrorCode, detail: str | None = None) -> None:
        if self.allowed and code not in self.allowed and code is not ErrorCode.UNSPECIFIED:
            raise ValueError(f"{type(self).__name__} cannot carry {code.code}")
        super().__init__(f"{code.code} {code.text}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.detail = detail


class PermissionDenied(XtaError):
    """The caller may not act for this account: unknown, locked, or not the certificate's participant."""

    element = "PermissionDeniedException"
    sender_fault = True
    allowed = frozenset(
        {
            ErrorCode.CERTIFICATE_EXPIRED,
            ErrorCode.ACCOUNT_LOCKED,
            ErrorCode.ACCOUNT_UNKNOWN,
            ErrorCode.SERVICE_NOT_BOOKED,
            ErrorCode.IDENTITY_MISMATCH,
        }
    )


class ParameterInvalid(XtaError):
    """The request is malformed, incomplete, too large, or reuses a message id."""

    element = "ParameterIsNotValidException"
    sender_fault = True
    allowed = frozenset(
        {
            ErrorCode.NO_PARAMETERS,
            ErrorCode.INVALID_URI,
            ErrorCode.INVALID_PARAMETER_COMBINATION,
            ErrorCode.MESSAGE_TOO_LARGE,
            ErrorCode.MESSAGE_ID_ALREADY_USED,
        }
    )


class TechnicalProblem(XtaError):
    """Something failed on the server's side; the client may retry later."""

    element = "XTAWSTechnicalProblemException"
    sender_fault = False
    allowed = frozenset({ErrorCode.INTERNAL_ERROR, ErrorCode.DIRECTORY_ERROR, ErrorCode.DELIVERY_ERROR})


class SchemaViolation(XtaError):
    """The Fachnachricht itself is not acceptable (schema, encoding, service profile)."""

    element = "MessageSchemaViolationException"
    sender_fault = True
    allowed = frozenset({ErrorCode.SCHEMA_VIOLATION, ErrorCode.WRONG_ENCODING, ErrorCode.SERVICE_PROFILE_VIOLATION})


class VirusDetected(XtaError):
    """A content item carries malicious code."""

    element = "MessageVirusDetectionException"
    sender_fault = True
    allowed = frozenset({ErrorCode.VIRUS_DETECTED})


class InvalidMessageId(XtaError):
    """The message id is not known for this account (which also hides other accounts' messages)."""

    element = "InvalidMessageIDException"
    sender_fault = True
    allowed = frozenset({ErrorCode.MESSAGE_ID_UNKNOWN})


class SyncAsyncMismatch(XtaError):
    """The message was sent synchronously for an asynchronous service or the other way round."""

    element = "SyncAsyncException"
    sender_fault = True
    allowed = frozenset({ErrorCode.ASYNC_ONLY, ErrorCode.SYNC_ONLY})


class CancelDenied(XtaError):
    """The transport order can no longer be (or never could be) withdrawn."""

    element = "CancelDeniedException"
    sender_fault = True
    allowed = frozenset({ErrorCode.NOT_BEFORE_PASSED, ErrorCode.NOT_BEFORE_NOT_SET})
