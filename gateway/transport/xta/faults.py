"""SOAP 1.2 Faults carrying the XTA exception element, as XTA clients detect and read them.

A client finds the fault by its ``env:Fault`` element (some parse the body before looking at the HTTP
status, hence always XML), shows ``Reason/Text``, and maps the first child of ``Detail`` to its
exception class, reading the unqualified ``code``/``name`` inside ``xta:errorCode``. ``Code/Value`` is
``env:Sender`` when the request is at fault and ``env:Receiver`` when the server is; the ``Subcode``
names the XTA exception so that generic SOAP tooling can tell the kinds apart too.

The HTTP status follows the SOAP 1.2 HTTP binding (SOAP 1.2 Part 2, table 20): 400 Bad Request for an
``env:Sender`` fault, 500 for an ``env:Receiver`` fault. Third-party clients and proxies use the status to
decide whether a retry can help: a 500 invites a retry, which is pointless for a request that is wrong.
Apache CXF clients, though, raise a bare ``HTTPException`` on a 400 and never read the fault unless they
set ``org.apache.cxf.transport.process_fault_on_http_400``; ``xta_server.sender_fault_status = 500``
serves such clients.
"""

from __future__ import annotations

from lxml import etree

from gateway.transport.xta.addressing import reply_headers
from gateway.transport.xta.errors import XtaError
from gateway.transport.xta.ns import SOAP12, WSA_FAULT_ACTION, XML, XTA, q
from gateway.transport.xta.soap import build_envelope, new_element, sub

ERROR_LIST_URI = "urn:de:xta:webservice:codeliste:fehlernummer"
ERROR_LIST_VERSION = "1.0"
SENDER_FAULT_STATUS = 400
RECEIVER_FAULT_STATUS = 500


def fault_status(error: XtaError, sender_status: int = SENDER_FAULT_STATUS) -> int:
    """The HTTP status of the fault reply for ``error`` (SOAP 1.2 HTTP binding unless configured otherwise)."""
    return sender_status if error.sender_fault else RECEIVER_FAULT_STATUS


def exception_element(error: XtaError) -> etree._Element:
    """The ``xta:*Exception`` detail element with its ``errorCode``."""
    element = new_element(XTA, error.element)
    code = sub(element, XTA, "errorCode")
    code.set("listURI", ERROR_LIST_URI)
    code.set("listVersionID", ERROR_LIST_VERSION)
    sub(code, None, "code", error.code.code)
    sub(code, None, "name", error.code.text)
    return element


def fault_element(error: XtaError) -> etree._Element:
    """The ``env:Fault`` body element for ``error``."""
    fault = new_element(SOAP12, "Fault")
    code = sub(fault, SOAP12, "Code")
    sub(code, SOAP12, "Value", "env:Sender" if error.sender_fault else "env:Receiver")
    subcode = sub(code, SOAP12, "Subcode")
    sub(subcode, SOAP12, "Value", f"xta:{error.element}")
    reason = sub(fault, SOAP12, "Reason")
    text = sub(reason, SOAP12, "Text", str(error))
    text.set(q(XML, "lang"), "de")
    detail = sub(fault, SOAP12, "Detail")
    detail.append(exception_element(error))
    return fault


def fault_envelope(error: XtaError, action: str | None, relates_to: str | None) -> bytes:
    """A complete fault reply; ``action`` is the WSDL's fault action of the operation when known."""
    return build_envelope(reply_headers(action or WSA_FAULT_ACTION, relates_to), [fault_element(error)])
