"""The dashboard: queues, failures, peers and adapters; the panel is re-fetched by htmx every few seconds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from gateway.console import health
from gateway.console.access import visible_to
from gateway.console.stats import collect
from gateway.console.web import PREFIX, Page, signed_in

router = APIRouter(prefix=PREFIX, include_in_schema=False)

POLL_SECONDS = 5


def _panel_values(current: Page) -> dict[str, Any]:
    assert current.user is not None
    with current.state.engine.connect() as connection:
        stats = collect(connection, None if current.user.is_gateway_admin else visible_to(current.user))
    values: dict[str, Any] = {"stats": stats, "poll": POLL_SECONDS, "peers": [], "adapters": []}
    if current.user.is_gateway_admin:
        values["peers"] = health.peers(current.state)
        values["adapters"] = current.console.adapter_health.check(current.state, current.state.engine)
    return values


@router.get("/")
def dashboard(current: Annotated[Page, Depends(signed_in)]) -> Response:
    return current.render("dashboard.html", **_panel_values(current))


@router.get("/dashboard/panel")
def dashboard_panel(current: Annotated[Page, Depends(signed_in)]) -> Response:
    return current.render("_panel.html", **_panel_values(current))
