"""The dashboard: headline figures, health per queue, XTA peer and DMS adapter, and charts of traffic and ages.

Everything is read from the database's rollups (:mod:`gateway.pipeline.rollups`, brought up to date by a
bounded step before each read), so every node shows the same and the cost does not grow with the number
of messages. The figures panel is re-fetched by htmx every :data:`POLL_SECONDS`; the charts (uPlot,
vendored in ``static/``, drawn by ``static/dashboard.js``) poll ``/dashboard/series`` as JSON. Both need
the console session like every other console page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import JSONResponse, Response

from gateway.console import health
from gateway.console.stats import RANGES, collect, series
from gateway.console.web import PREFIX, Page, signed_in
from gateway.pipeline.rollups import refresh
from gateway.store.models import ConsoleRole

router = APIRouter(prefix=PREFIX, include_in_schema=False)

POLL_SECONDS = 5


def number(value: float, lang: str) -> str:
    """``1234567`` as ``1.234.567`` in German, ``1,234,567`` in English."""
    text = f"{round(value):,}"
    return text.replace(",", ".") if lang == "de" else text


_UNITS = {"de": ("s", "min", "Std.", "Tg."), "en": ("s", "min", "h", "d")}


def age(seconds: float, lang: str) -> str:
    """An age in the largest unit that keeps it readable (``95 min``, ``3 Std.``)."""
    units = _UNITS.get(lang, _UNITS["en"])
    seconds = int(seconds)
    if seconds < 120:
        return f"{number(seconds, lang)} {units[0]}"
    if seconds < 7200:
        return f"{number(seconds // 60, lang)} {units[1]}"
    if seconds < 172800:
        return f"{number(seconds // 3600, lang)} {units[2]}"
    return f"{number(seconds // 86400, lang)} {units[3]}"


def _participant(current: Page) -> str | None:
    assert current.user is not None
    if current.user.role is ConsoleRole.PARTICIPANT_ADMIN:
        return current.user.participant or ""
    return None


def _panel_values(current: Page) -> dict[str, Any]:
    assert current.user is not None
    state = current.state
    refresh(state.engine)
    with state.engine.connect() as connection:
        stats = collect(connection, _participant(current), state.settings)
        values: dict[str, Any] = {"stats": stats, "poll": POLL_SECONDS, "peers": [], "adapters": []}
        if current.user.is_gateway_admin:
            values["peers"] = health.peer_health(state, connection, stats.at)
            values["adapters"] = health.adapter_health(
                state, state.engine, connection, current.console.adapter_health, stats.at
            )
    lang = current.lang
    values["num"] = lambda v: number(v, lang)
    values["ago"] = lambda s: age(s, lang)
    values["charts"] = _participant(current) is None
    return values


@router.get("/")
def dashboard(current: Annotated[Page, Depends(signed_in)]) -> Response:
    return current.render("dashboard.html", **_panel_values(current))


@router.get("/dashboard/panel")
def dashboard_panel(current: Annotated[Page, Depends(signed_in)]) -> Response:
    return current.render("_panel.html", **_panel_values(current))


@router.get("/dashboard/series")
def dashboard_series(current: Annotated[Page, Depends(signed_in)], span: str = "hour") -> Response:
    """The charts' data as JSON (see :func:`gateway.console.stats.series`); ``span`` is hour, day or week."""
    if span not in RANGES:
        span = "hour"
    refresh(current.state.engine)
    with current.state.engine.connect() as connection:
        data = series(connection, span, _participant(current))
    return current.finish(JSONResponse(data))
