"""API tokens: random secrets shown once, kept only as their SHA-256, bound to a participant with scopes.

A token carries 256 bits from :func:`secrets.token_urlsafe`, so a plain SHA-256 is enough at rest
(there is nothing to brute-force, unlike a password) and lets the API find the token by an indexed
lookup of its hash instead of comparing secrets one by one. The ``xgw_`` prefix lets secret scanners
and people recognise a leaked token. A revoked token stays in the table so that listings and logs can
still say which token an old action was made with.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from gateway.store.models import ApiToken, Participant
from gateway.store.types import utcnow

TOKEN_PREFIX = "xgw_"  # noqa: S105 (a public marker, not a secret)
TOKEN_BYTES = 32


class Scope(enum.StrEnum):
    SUBMIT = "submit"  # submit and validate messages as its participant; cancel its own outbound messages
    READ = "read"  # read its participant's messages (as sender or recipient), processes and payloads
    ADMIN = "admin"  # operator: the directory, every message, retry/requeue/cancel, /metrics


class TokenError(ValueError):
    """The token request cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class NewToken:
    """A freshly created token: ``secret`` exists only here and is never stored."""

    id: int
    name: str
    participant: str
    scopes: tuple[Scope, ...]
    secret: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's participant and what it may do."""

    token_id: int
    token_name: str
    participant: str
    scopes: frozenset[Scope]

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    @property
    def actor(self) -> str:
        """How the caller appears in a message's event history."""
        return f"token:{self.token_id}:{self.token_name}"[:128]


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    scopes: list[Scope] = []
    for raw in values:
        for part in raw.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                scope = Scope(name)
            except ValueError:
                known = ", ".join(s.value for s in Scope)
                raise TokenError(f"unknown scope {name!r} (known: {known})") from None
            if scope not in scopes:
                scopes.append(scope)
    if not scopes:
        raise TokenError("a token needs at least one scope (submit, read, admin)")
    return tuple(scopes)


def create_token(session: Session, participant_id: str, scopes: Iterable[Scope], name: str | None = None) -> NewToken:
    """Create a token for ``participant_id``; the caller commits and shows ``secret`` once."""
    participant = session.exec(select(Participant).where(Participant.xoev_id == participant_id)).first()
    if participant is None or participant.id is None:
        raise TokenError(f"unknown participant {participant_id!r}: add it to the directory first")
    chosen = tuple(dict.fromkeys(scopes))
    if not chosen:
        raise TokenError("a token needs at least one scope (submit, read, admin)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    label = (name or f"{participant_id} {','.join(s.value for s in chosen)}")[:128]
    row = ApiToken(
        participant_id=participant.id,
        name=label,
        token_hash=hash_token(secret),
        scopes=[s.value for s in chosen],
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return NewToken(id=row.id, name=label, participant=participant_id, scopes=chosen, secret=secret)


def authenticate(session: Session, secret: str) -> Principal | None:
    """The principal for a presented token, or None when it is unknown or revoked."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 256:
        return None
    row = session.exec(
        select(ApiToken, Participant)
        .where(ApiToken.token_hash == hash_token(secret), col(ApiToken.participant_id) == col(Participant.id))
        .limit(1)
    ).first()
    if row is None:
        return None
    token, participant = row
    if token.revoked_at is not None or token.id is None:
        return None
    scopes = frozenset(Scope(s) for s in token.scopes if s in Scope.__members__.values())
    return Principal(token.id, token.name, participant.xoev_id, scopes)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    participant: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def list_tokens(session: Session, participant_id: str | None = None) -> list[TokenInfo]:
    statement = select(ApiToken, Participant).where(col(ApiToken.participant_id) == col(Participant.id))
    if participant_id:
        statement = statement.where(Participant.xoev_id == participant_id)
    rows = session.exec(statement.order_by(col(ApiToken.id))).all()
    return [TokenInfo(t.id or 0, t.name, p.xoev_id, tuple(t.scopes), t.created_at, t.revoked_at) for t, p in rows]


def revoke_token(session: Session, token_id: int) -> TokenInfo:
    """Revoke a token at once (idempotent: revoking twice keeps the first time); the caller commits."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise TokenError(f"no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        session.flush()
    participant = session.get(Participant, token.participant_id)
    return TokenInfo(
        token_id,
        token.name,
        participant.xoev_id if participant else "?",
        tuple(token.scopes),
        token.created_at,
        token.revoked_at,
    )
