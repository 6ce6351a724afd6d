"""Participants with their certificates (expiry warnings), routes and adapters; gateway admins edit them.

An edit goes through :func:`gateway.participants.directory.upsert` with a checked
:class:`~gateway.participants.spec.ParticipantSpec`, exactly like ``xgw participants import``; the
change is audited with the fields before and after.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.responses import Response

from gateway.console import audit
from gateway.console.access import can_see_participant
from gateway.console.web import PREFIX, ConsoleForbidden, ConsoleNotFound, Page, signed_in
from gateway.participants.directory import get_participant, list_participants, upsert
from gateway.participants.spec import ParticipantSpec
from gateway.store.models import Certificate, ConsoleRole, Participant, RouteKind, SignaturePolicy
from gateway.store.types import utcnow

router = APIRouter(prefix=PREFIX, include_in_schema=False)

EXPIRY_WARNING = timedelta(days=30)


def _certificates(session: Session, participant: Participant) -> list[dict[str, Any]]:
    now = utcnow()
    rows = session.exec(
        select(Certificate)
        .where(col(Certificate.participant_id) == participant.id)
        .order_by(col(Certificate.not_after))
    )
    out = []
    for cert in rows:
        status = "expired" if cert.not_after <= now else "expiring" if cert.not_after - now <= EXPIRY_WARNING else "ok"
        out.append({"cert": cert, "status": status})
    return out


@router.get("/participants")
def participants(current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    user = current.user
    with Session(current.state.engine) as session:
        rows = [
            {"p": p, "certs": _certificates(session, p)}
            for p in list_participants(session)
            if can_see_participant(user, p.xoev_id)
        ]
    return current.render("participants.html", rows=rows)


def _visible(current: Page, session: Session, xoev_id: str) -> Participant:
    assert current.user is not None
    participant = get_participant(session, xoev_id)
    if participant is None or not can_see_participant(current.user, xoev_id):
        raise ConsoleNotFound
    return participant


def _form_values(participant: Participant) -> dict[str, str]:
    return {
        "name": participant.display_name,
        "versions": ", ".join(participant.accepted_versions),
        "route": participant.route_kind.value,
        "endpoint": participant.endpoint_url or "",
        "policy": participant.signature_policy.value,
        "adapter": json.dumps(participant.adapter_config, ensure_ascii=False, indent=2)
        if participant.adapter_config
        else "",
    }


def _render(current: Page, session: Session, participant: Participant, **extra: Any) -> Response:
    return current.render(
        "participant.html",
        p=participant,
        certs=_certificates(session, participant),
        routes=list(RouteKind),
        policies=list(SignaturePolicy),
        can_edit=current.user is not None and current.user.role is ConsoleRole.GATEWAY_ADMIN,
        **{"values": _form_values(participant), **extra},
    )


@router.get("/participants/{xoev_id}")
def participant_page(xoev_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    with Session(current.state.engine) as session:
        participant = _visible(current, session, xoev_id)
        return _render(current, session, participant, saved=current.request.query_params.get("saved"))


def _spec(xoev_id: str, form: dict[str, str]) -> ParticipantSpec:
    adapter_text = form.get("adapter", "").strip()
    try:
        adapter = json.loads(adapter_text) if adapter_text else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"adapter: not JSON ({exc.msg} at line {exc.lineno})") from None
    route: dict[str, Any] = {"kind": form.get("route", "")}
    if form.get("endpoint", "").strip():
        route["endpoint_url"] = form["endpoint"].strip()
    raw = {
        "id": xoev_id,
        "name": form.get("name", "").strip(),
        "accepted_versions": [v.strip() for v in form.get("versions", "").split(",") if v.strip()],
        "route": route,
        "signature_policy": form.get("policy", ""),
        "adapter": adapter,
    }
    try:
        return ParticipantSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None


@router.post("/participants/{xoev_id}")
async def participant_edit(xoev_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    form = await current.form()
    engine = current.state.engine
    with Session(engine, expire_on_commit=False) as session:
        participant = _visible(current, session, xoev_id)
        if current.user.role is not ConsoleRole.GATEWAY_ADMIN:
            audit.record(
                engine,
                current.user.name,
                "participant.edit",
                target=xoev_id,
                result=audit.REFUSED,
                detail="role",
                client=current.client,
            )
            raise ConsoleForbidden
        before = _form_values(participant)
        try:
            spec = _spec(xoev_id, form)
        except ValueError as exc:
            audit.record(
                engine,
                current.user.name,
                "participant.edit",
                target=xoev_id,
                result=audit.REFUSED,
                detail=str(exc),
                client=current.client,
            )
            return _render(current, session, participant, error=str(exc), status=400)
        result = upsert(session, spec)
        session.commit()
        after = _form_values(participant)
    changed = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
    audit.record(
        engine,
        current.user.name,
        "participant.edit",
        target=xoev_id,
        detail=f"{result.outcome}: {json.dumps(changed, ensure_ascii=False)}",
        client=current.client,
    )
    return current.redirect(f"{PREFIX}/participants/{xoev_id}?saved=1")
