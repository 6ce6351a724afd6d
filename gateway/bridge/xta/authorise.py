"""Who may act for which XTA account: the caller's identity mapped onto the participant directory.

Accounts are participants of the directory: a PartyIdentifier names one by its XÖV identifier
(``psw:16077000``; an identifier of type ``psw`` with value ``16077000`` is read the same way). A caller
proves it may act for an account with its TLS client certificate, pinned for that participant with
usage ``tls``; a certificate pinned for a participant that is reached through a peer gateway (route
``xta``) speaks for every participant routed to that same gateway, since that gateway sends on behalf of
all of them. Loopback callers pass without a certificate only when the server's development switch
allows it (the transport layer decides that before the backend is asked).

This module answers only that question; the ports (:mod:`.send_port`, :mod:`.msgbox_port`,
:mod:`.management_port`) ask it for the account of an already authorised party.
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.pipeline import directory
from gateway.pipeline.directory import Route
from gateway.store.models import RouteKind
from gateway.store.types import utcnow
from gateway.transport.xta.backend import PartyId
from gateway.transport.xta.errors import ErrorCode, PermissionDenied
from gateway.transport.xta.identity import CallerIdentity


def account_ids(party: PartyId) -> list[str]:
    """The XÖV identifiers a PartyIdentifier may mean: its value, or ``type:value`` for a bare Kennung."""
    candidates = [party.value]
    if ":" not in party.value and party.type:
        candidates.append(f"{party.type}:{party.value}")
    return candidates


def same_peer(a: Route, b: Route) -> bool:
    """Whether both participants are reached through the same peer gateway (which speaks for both)."""
    if a.route_kind is not RouteKind.XTA or b.route_kind is not RouteKind.XTA:
        return False
    if not a.endpoint_url or not b.endpoint_url:
        return False
    return a.endpoint_url.rstrip("/") == b.endpoint_url.rstrip("/")


def participant(session: Session, party: PartyId) -> Route | None:
    """The participant ``party`` names, or None (from the directory's cache: no query while it is fresh)."""
    for xoev_id in account_ids(party):
        found = directory.route(session, xoev_id)
        if found is not None:
            return found
    return None


def account(session: Session, party: PartyId) -> Route:
    """The participant whose account ``party`` names, or PermissionDenied 9012."""
    row = participant(session, party)
    if row is None:
        raise PermissionDenied(ErrorCode.ACCOUNT_UNKNOWN, f"no account {party.type}:{party.value}")
    return row


def authorise(session: Session, caller: CallerIdentity, party: PartyId) -> Route:
    """The account of ``party`` if ``caller`` may act for it, else PermissionDenied (9010, 9012, 9014).

    The caller's pinned certificate comes from the directory's cache (:func:`directory.tls_pin`), so a
    pin removed or replaced stops being trusted as soon as the directory change is seen (at once in this
    process, within ``directory.CACHE_SECONDS`` from another).
    """
    row = account(session, party)
    if caller.trusted_without_certificate:
        return row
    pin = directory.tls_pin(session, caller.certificate_sha256 or "")
    if pin is None or not (pin.holder.xoev_id == row.xoev_id or same_peer(pin.holder, row)):
        raise PermissionDenied(ErrorCode.IDENTITY_MISMATCH, f"the client certificate is not bound to {row.xoev_id}")
    now = utcnow()
    if not pin.not_before <= now <= pin.not_after:
        raise PermissionDenied(
            ErrorCode.CERTIFICATE_EXPIRED, f"the certificate is pinned until {pin.not_after.isoformat()}"
        )
    return row
