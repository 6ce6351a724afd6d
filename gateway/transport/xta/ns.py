"""The XML namespaces of XTA 2 and the prefixes the server writes.

Replies declare every namespace with a prefix and never a default namespace: the XTA schemas have
unqualified children (``code``, ``name``) inside qualified elements, and a default namespace in scope
would silently qualify them for clients that build XML by string.
"""

from __future__ import annotations

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XTA = "http://xoev.de/transport/xta/211"
OSCI = "http://www.osci.eu/ws/2008/05/transport"
OSCIMETA = "http://www.osci.eu/ws/2014/10/transport"
XOP = "http://www.w3.org/2004/08/xop/include"
XML = "http://www.w3.org/XML/1998/namespace"

NSMAP: dict[str, str] = {
    "env": SOAP12,
    "wsa": WSA,
    "xta": XTA,
    "osci": OSCI,
    "oscimeta": OSCIMETA,
    "xop": XOP,
}

WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"


def q(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local``, the form lxml takes for tags."""
    return f"{{{namespace}}}{local}"
