"""The dashboard over HTTP: its chart data needs the session, a message in delivery retries is not neutral,
German numbers are German (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import httpx
import sqlalchemy as sa

from gateway.console.routes_dashboard import age, number
from gateway.store.models import Message, MessageEvent, MessageState
from gateway.store.types import utcnow
from tests.api.support import Gateway
from tests.console.support import sign_in, submit

_M = Message.__table__  # type: ignore[attr-defined]
_E = MessageEvent.__table__  # type: ignore[attr-defined]


def _event(gateway: Gateway, message_id: str, to: MessageState, error: str | None = None) -> None:
    """A state change (or, with the same state and an error, a failed try) as the pipeline records it."""
    ident = uuid.UUID(message_id)
    with gateway.ctx.engine.begin() as connection:
        before = connection.execute(sa.select(_M.c.state).where(_M.c.id == ident)).scalar_one()
        connection.execute(sa.update(_M).where(_M.c.id == ident).values(state=to.value, error=error))
        connection.execute(
            sa.insert(_E).values(
                message_id=ident,
                from_state=before,
                to_state=to.value,
                actor="test-worker",
                reason="try",
                error=error,
                created_at=utcnow(),
            )
        )


def test_numbers_and_ages_in_both_languages() -> None:
    assert number(1234567, "de") == "1.234.567"
    assert number(1234567, "en") == "1,234,567"
    assert age(95 * 60, "de") == "95 min"
    assert age(3 * 3600, "de") == "3 Std."
    assert age(3 * 86400, "en") == "3 d"


def test_the_chart_data_needs_the_session(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.url) as anonymous:
        refused = anonymous.get("/console/dashboard/series", params={"span": "day"})
        assert refused.status_code == 303 and refused.headers["location"] == "/console/login"
        assert anonymous.get("/console/dashboard/panel").status_code == 303
    with sign_in(gateway, "root") as admin:
        data = admin.get("/console/dashboard/series", params={"span": "day"}).json()
        assert data["span"] == "day" and data["grain"] == 3600 and len(data["t"]) == 24
        assert set(data["age"]) == {"inbound", "outbound", "waiting_for_receipt"}
        assert len(admin.get("/console/dashboard/series", params={"span": "nonsense"}).json()["t"]) == 60
    with sign_in(gateway, "abg") as participant_admin:
        data = participant_admin.get("/console/dashboard/series").json()
        assert "age" not in data  # the gateway-wide queue ages are for those who see every participant


def test_a_message_in_delivery_retries_is_highlighted(gateway: Gateway) -> None:
    message = submit(gateway, 950)
    _event(gateway, message, MessageState.QUEUED)
    _event(gateway, message, MessageState.QUEUED, "XtaUnavailable: peer answered 503")
    with sign_in(gateway, "root") as admin:
        panel = admin.get("/console/dashboard/panel").text
        assert 'data-queue="outbound" class="lvl-warn"' in panel
        stuck = panel[panel.index('id="stuck"') :]
        assert message[:8] in stuck and 'class="badge warn"' in stuck and "XtaUnavailable" in stuck
        german = admin.get("/console/dashboard/panel", headers={"Accept-Language": "de"}).text
        assert "eingereiht – Warten auf Wiederholung" in german
    _event(gateway, message, MessageState.SENT)  # it went through: no longer retrying
    with sign_in(gateway, "root") as admin:
        panel = admin.get("/console/dashboard/panel").text
        assert message[:8] not in panel
