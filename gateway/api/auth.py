"""Bearer-token authentication and the scope checks every route declares.

A request without ``Authorization: Bearer <token>``, with an unknown token or a revoked one gets 401
with ``WWW-Authenticate: Bearer`` -- the three cases look the same to the client so that probing reveals
nothing. A valid token lacking the scope a route needs gets 403. Which messages a principal may see is
decided in :mod:`gateway.api.visibility`, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from gateway.api.problems import FORBIDDEN, UNAUTHORIZED, ApiProblem
from gateway.api.state import ApiState, api_state
from gateway.participants.tokens import Principal, Scope, authenticate

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `xgw tokens create PARTICIPANT --scope ...`, as `Authorization: Bearer xgw_...`.",
)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="xoev-gateway"'}


def principal_from(state: ApiState, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The token's principal; 401 when there is none, it is unknown or revoked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(UNAUTHORIZED, "send Authorization: Bearer <token>", headers=_CHALLENGE)
    with Session(state.engine) as session:
        principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise ApiProblem(UNAUTHORIZED, "the token is unknown or revoked", headers=_CHALLENGE)
    return principal


def check_scope(principal: Principal, *scopes: Scope) -> Principal:
    """403 unless the principal holds one of ``scopes`` (admin always qualifies)."""
    if not principal.scopes & (frozenset(scopes) | {Scope.ADMIN}):
        names = " or ".join(sorted(s.value for s in scopes))
        raise ApiProblem(FORBIDDEN, f"this needs a token with the {names} scope")
    return principal


def current_principal(
    request: Request,
    state: Annotated[ApiState, Depends(api_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    principal = principal_from(state, credentials)
    request.state.principal = principal
    return principal


def require(*scopes: Scope) -> Callable[[Principal], Principal]:
    """A dependency admitting principals holding any of ``scopes`` (admin always qualifies)."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return check_scope(principal, *scopes)

    return check


Reader = Annotated[Principal, Depends(require(Scope.READ))]
Submitter = Annotated[Principal, Depends(require(Scope.SUBMIT))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
AnyPrincipal = Annotated[Principal, Depends(current_principal)]
