"""What can go wrong talking to an XTA 2 server, sorted into "try again later" and "this will never work".

The split decides a message's fate: a :class:`TransientError` is retried (first by the client with
back-off, then by the pipeline's own retry schedule), a :class:`PermanentError` is not and sends the
message to the dead letters with the peer's fault code and text, so an operator sees exactly what the
peer objected to. The classification follows the XTA exception elements: only
``XTAWSTechnicalProblemException`` (9030 internal error, 9031 directory, 9032 delivery) says "the server
has a problem"; every other XTA exception says "your request is wrong" and repeating it cannot help.
A fault without an XTA detail falls back to the SOAP code: ``Receiver`` is the server's problem,
``Sender`` the client's.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.transport.xta.errors import ErrorCode, XtaError

#: the fault detail element of "the server has a problem" (the server's own errors use the same names)
TECHNICAL_PROBLEM = XtaError.element
MESSAGE_ID_ALREADY_USED = ErrorCode.MESSAGE_ID_ALREADY_USED.code


@dataclass(frozen=True, slots=True)
class XtaFault:
    """A SOAP 1.2 Fault as an XTA server sends it.

    ``exception`` is the local name of the first ``Detail`` child (``PermissionDeniedException`` ...),
    ``code``/``name`` come from its ``errorCode`` (code list ``urn:de:xta:webservice:codeliste:fehlernummer``),
    ``reason`` is ``Reason/Text`` and ``soap_code`` the local part of ``Code/Value`` (``Sender``/``Receiver``).
    """

    exception: str | None
    code: str | None
    name: str | None
    reason: str
    soap_code: str | None

    @property
    def retryable(self) -> bool:
        if self.exception is not None:
            return self.exception == TECHNICAL_PROBLEM
        return self.soap_code != "Sender"

    def __str__(self) -> str:
        what = self.exception or f"SOAP fault ({self.soap_code or 'no code'})"
        if self.code and not self.reason.startswith(self.code):
            name = f" {self.name}" if self.name and self.name not in self.reason else ""
            return f"{what}: {self.code}{name}: {self.reason}"
        return f"{what}: {self.reason}"


class XtaClientError(Exception):
    """Base of the client's errors: which peer and operation failed, and why (readable)."""

    retryable = False

    def __init__(self, peer: str, operation: str, detail: str) -> None:
        super().__init__(f"{operation} at {peer}: {detail}")
        self.peer = peer
        self.operation = operation
        self.detail = detail


class TransientError(XtaClientError):
    """Worth another try: timeouts, refused or broken connections, 5xx, garbage replies, technical faults."""

    retryable = True


class PermanentError(XtaClientError):
    """Repeating the request cannot help: schema, parameter and permission faults, 4xx, TLS trust failures."""


class Timeout(TransientError):
    """No connection, no reply, or no complete reply within the configured time."""


class ConnectionFailed(TransientError):
    """The peer could not be reached or dropped the connection."""


class BadReply(TransientError):
    """The peer answered something that is not a usable SOAP reply (HTML page, non-XML, truncated MTOM ...)."""


class HttpError(TransientError):
    """A 5xx (or 408/429) answer without a SOAP fault."""


class HttpRefused(PermanentError):
    """A 4xx answer without a SOAP fault: wrong URL, or the peer's front end refuses us."""


class TlsRefused(PermanentError):
    """The TLS handshake failed for reasons of trust: the peer's certificate is not pinned, or ours is refused."""


class CircuitOpen(TransientError):
    """The peer failed too often in a row; calls are refused without trying until the cool-down has passed."""


class FaultError(XtaClientError):
    """The peer answered with a SOAP fault; retryable only for XTA technical problems."""

    def __init__(self, peer: str, operation: str, fault: XtaFault) -> None:
        super().__init__(peer, operation, str(fault))
        self.fault = fault

    @property
    def code(self) -> str | None:
        return self.fault.code


class TransientFault(FaultError, TransientError):
    """``XTAWSTechnicalProblemException`` (or a Receiver fault without XTA detail)."""


class PermanentFault(FaultError, PermanentError):
    """Any other XTA exception: the request is wrong and will stay wrong."""


def fault_error(peer: str, operation: str, fault: XtaFault) -> FaultError:
    """The typed error for ``fault``, transient or permanent by its exception element."""
    return (TransientFault if fault.retryable else PermanentFault)(peer, operation, fault)
