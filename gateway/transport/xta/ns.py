"""The names of XTA 2 that server and client share: XML namespaces, the prefixes the server writes, the ports.

One place for both sides (:mod:`gateway.transport.xta` serves these ports, :mod:`gateway.transport.xta_client`
calls them), so that they cannot drift apart.

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

#: the three ports of an XTA 2 server, as the WSDL names them (the last path segment of each port's URL)
MANAGEMENT_PORT = "ManagementPort"
SEND_PORT = "SendXtaPort"
MSGBOX_PORT = "MsgBoxPort"
PORTS = (MANAGEMENT_PORT, SEND_PORT, MSGBOX_PORT)


def q(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local``, the form lxml takes for tags."""
    return f"{{{namespace}}}{local}"


#: each port's SOAP 1.2 binding in the WSDL
BINDINGS: dict[str, str] = {
    MANAGEMENT_PORT: q(XTA, "managementHttpsBinding"),
    SEND_PORT: q(XTA, "sendXTAHttpsBinding"),
    MSGBOX_PORT: q(XTA, "msgBoxHttpsBinding"),
}
