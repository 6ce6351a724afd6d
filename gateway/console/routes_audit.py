"""The audit log, newest first; gateway admins only (it names every user and every failed sign-in)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from gateway.console.audit import recent
from gateway.console.web import PREFIX, ConsoleForbidden, Page, signed_in

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/audit")
def audit_log(current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    if not current.user.is_gateway_admin:
        raise ConsoleForbidden
    return current.render("audit.html", rows=recent(current.state.engine))
