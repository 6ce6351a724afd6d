"""WS-Addressing 1.0 for XTA: which action a request means, and the headers every reply carries.

The WSDL's policy makes addressing mandatory with anonymous responses only, so a reply goes back on the
same HTTP connection and carries ``wsa:Action`` (the WSDL's output action), a fresh ``wsa:MessageID``,
``wsa:To`` anonymous and ``wsa:RelatesTo`` the request's MessageID.

The action may arrive in four places: ``wsa:Action``, the ``SOAPAction`` HTTP header (quoted or not), the
``action`` parameter of the Content-Type, or -- for MTOM -- inside ``start-info`` or the root part's
``type`` parameter. The first non-empty one wins; if another one names a *different* action the request
is ambiguous and refused (9022) rather than guessed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from gateway.transport.xta.errors import ErrorCode, ParameterInvalid
from gateway.transport.xta.mtom import parse_content_type
from gateway.transport.xta.ns import WSA, WSA_ANONYMOUS
from gateway.transport.xta.soap import Envelope, new_element

_ANONYMOUS = frozenset({WSA_ANONYMOUS, "http://www.w3.org/2005/08/addressing/none", ""})


@dataclass(frozen=True, slots=True)
class Addressing:
    """The WS-Addressing headers of a request (all optional on the wire)."""

    action: str | None
    message_id: str | None
    to: str | None
    reply_to: str | None


def _text(envelope: Envelope, local: str) -> str | None:
    element = envelope.header(WSA, local)
    if element is None:
        return None
    return (element.text or "").strip()


def read_addressing(envelope: Envelope) -> Addressing:
    reply_to = envelope.header(WSA, "ReplyTo")
    address = None
    if reply_to is not None:
        found = reply_to.find(f"{{{WSA}}}Address")
        address = (found.text or "").strip() if found is not None else None
    if address is not None and address not in _ANONYMOUS:
        raise ParameterInvalid(
            ErrorCode.INVALID_PARAMETER_COMBINATION, f"only anonymous replies are supported, not ReplyTo {address}"
        )
    return Addressing(
        action=_text(envelope, "Action"),
        message_id=_text(envelope, "MessageID"),
        to=_text(envelope, "To"),
        reply_to=address,
    )


def action_of_content_type(value: str | None) -> str | None:
    """The ``action`` parameter of a SOAP 1.2 or XOP content type, looking into ``start-info``/``type``."""
    if not value:
        return None
    _, params = parse_content_type(value)
    if params.get("action"):
        return params["action"].strip()
    for nested in ("start-info", "type"):
        inner = params.get(nested)
        if inner and ";" in inner:
            found = action_of_content_type(inner)
            if found:
                return found
    return None


def soap_action_header(value: str | None) -> str | None:
    """The ``SOAPAction`` HTTP header without its optional quotes."""
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return value or None


def resolve_action(candidates: Iterable[str | None]) -> str | None:
    """The first non-empty candidate; 9022 if a later non-empty one disagrees."""
    found = [c for c in candidates if c]
    if not found:
        return None
    for other in found[1:]:
        if other != found[0]:
            raise ParameterInvalid(
                ErrorCode.INVALID_PARAMETER_COMBINATION, f"conflicting SOAP actions {found[0]!r} and {other!r}"
            )
    return found[0]


def reply_headers(action: str, relates_to: str | None) -> list[etree._Element]:
    """The addressing header blocks of a reply (or fault) to a request with MessageID ``relates_to``."""
    blocks = [
        new_element(WSA, "Action", action),
        new_element(WSA, "MessageID", f"urn:uuid:{uuid.uuid4()}"),
        new_element(WSA, "To", WSA_ANONYMOUS),
    ]
    if relates_to:
        blocks.append(new_element(WSA, "RelatesTo", relates_to))
    return blocks
