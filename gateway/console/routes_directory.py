"""Participants with their certificates (days to expiry), route, receipts and DMS adapter; gateway admins edit them.

Every edit is a form, and every form is checked by the rules the CLI and the admin API use: the participant
form and the adapter form become a :class:`~gateway.participants.spec.ParticipantSpec` written by
:func:`gateway.participants.directory.upsert` (like ``xgw participants import`` and ``PUT
/api/v1/participants/{id}``); the adapter's fields are generated from, and checked by, the adapter kind's own
configuration model (:mod:`gateway.console.forms`); a certificate is pinned through the same spec
(``certificates = [{pem = ...}]``), and ending a pin does what ``xgw keys expire`` does (the row stays as a
record, its pin ends now). A refused form changes nothing and comes back with each problem beside its field.

Only gateway admins edit; every edit, refused or done, is audited with the fields before and after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from cryptography import x509
from fastapi import APIRouter, Depends
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.responses import Response

from gateway.console import audit
from gateway.console.access import can_see_participant
from gateway.console.forms import (
    FormField,
    adapter_model,
    errors_by_field,
    form_fields,
    installed_kinds,
    read_form,
    value_text,
)
from gateway.console.web import PREFIX, ConsoleForbidden, ConsoleNotFound, Page, signed_in
from gateway.participants.directory import DirectoryError, get_participant, list_participants, upsert
from gateway.participants.spec import XDOMEA_VERSIONS, ParticipantSpec, effective_receipts
from gateway.store.models import (
    Certificate,
    ConsoleRole,
    Participant,
    ReceiptMaker,
    RouteKind,
    SenderIdentification,
    SignaturePolicy,
)
from gateway.store.types import utcnow

router = APIRouter(prefix=PREFIX, include_in_schema=False)

EXPIRY_WARNING = timedelta(days=30)
ADAPTER_PREFIX = "a-"
MAX_PEM_CHARS = 60_000

#: what the form for a new participant starts with (the spec's defaults)
NEW_VALUES: dict[str, Any] = {
    "name": "",
    "versions": ["3.0.0", "3.1.0", "4.0.0"],
    "route": "mailbox",
    "endpoint": "",
    "policy": "require",
    "sender_identification": "channel",
    "receipts_technical": "",
    "receipts_import_confirmations": "",
}

#: ParticipantSpec error locations -> the participant form's field names ("" : the spec's own cross-field check)
PARTICIPANT_FIELDS = {
    "id": "id",
    "name": "name",
    "accepted_versions": "versions",
    "route": "endpoint",
    "route.kind": "route",
    "route.endpoint_url": "endpoint",
    "signature_policy": "policy",
    "sender_identification": "sender_identification",
    "receipts.technical": "receipts_technical",
    "receipts.import_confirmations": "receipts_import_confirmations",
    "": "receipts_import_confirmations",
}


# -- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateRow:
    cert: Certificate
    status: str  # ok, expiring, expired, not_yet
    days: int  # whole days until the pin ends (negative: ended that many days ago)
    subject: str

    @property
    def ended(self) -> bool:
        return self.status == "expired"


def _subject(pem: str) -> str:
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        return "?"
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def certificate_status(cert: Certificate, now: datetime) -> tuple[str, int]:
    left = cert.not_after - now
    days = left.days if left >= timedelta(0) else -((-left).days)
    if cert.not_after <= now:
        return "expired", days
    if now < cert.not_before:
        return "not_yet", days
    if left <= EXPIRY_WARNING:
        return "expiring", days
    return "ok", days


def _certificates(session: Session, participant: Participant) -> list[CertificateRow]:
    now = utcnow()
    rows = session.exec(
        select(Certificate)
        .where(col(Certificate.participant_id) == participant.id)
        .order_by(col(Certificate.not_after), col(Certificate.id))
    )
    return [CertificateRow(cert, *certificate_status(cert, now), _subject(cert.pem)) for cert in rows]


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


def _snapshot(participant: Participant) -> dict[str, Any]:
    """The row's editable fields, for the audit's before and after."""
    return {
        "name": participant.display_name,
        "accepted_versions": list(participant.accepted_versions),
        "route": participant.route_kind.value,
        "endpoint": participant.endpoint_url,
        "signature_policy": participant.signature_policy.value,
        "sender_identification": participant.sender_identification.value,
        "receipts": dict(participant.receipt_policy or {}),
        "adapter": dict(participant.adapter_config or {}),
    }


def _spec_input(participant: Participant) -> dict[str, Any]:
    """The row as ParticipantSpec input: what a form does not edit stays exactly as it is."""
    route: dict[str, Any] = {"kind": participant.route_kind.value}
    if participant.route_kind is RouteKind.XTA and participant.endpoint_url:
        route["endpoint_url"] = participant.endpoint_url
    return {
        "id": participant.xoev_id,
        "name": participant.display_name,
        "accepted_versions": list(participant.accepted_versions),
        "route": route,
        "signature_policy": participant.signature_policy.value,
        "sender_identification": participant.sender_identification.value,
        "receipts": dict(participant.receipt_policy or {}),
        "adapter": dict(participant.adapter_config or {}),
    }


def _form_values(participant: Participant) -> dict[str, Any]:
    receipts = participant.receipt_policy or {}
    return {
        "name": participant.display_name,
        "versions": list(participant.accepted_versions),
        "route": participant.route_kind.value,
        "endpoint": participant.endpoint_url or "",
        "policy": participant.signature_policy.value,
        "sender_identification": participant.sender_identification.value,
        "receipts_technical": receipts.get("technical") or "",
        "receipts_import_confirmations": receipts.get("import_confirmations") or "",
    }


def _adapter_form(participant: Participant, kind: str | None, posted: dict[str, str] | None) -> dict[str, Any]:
    """The adapter section: the kinds to choose from, the chosen kind's fields and their values."""
    config = dict(participant.adapter_config or {})
    stored_kind = str(config.get("kind") or "")
    chosen = stored_kind if kind is None else kind
    model = adapter_model(chosen) if chosen else None
    fields = form_fields(model) if model is not None else []
    values: dict[str, str] = {}
    if posted is not None:
        values = {f.name: posted.get(ADAPTER_PREFIX + f.name, "") for f in fields}
    elif model is not None and chosen == stored_kind:
        values = {f.name: value_text(model, f.name, config[f.name]) for f in fields if f.name in config}
    return {
        "kinds": installed_kinds(),
        "kind": chosen,
        "stored_kind": stored_kind,
        "known": model is not None or not chosen,
        "fields": fields,
        "values": values,
        "prefix": ADAPTER_PREFIX,
    }


def split_fields(adapter: dict[str, Any], errors: dict[str, str]) -> tuple[list[FormField], list[FormField]]:
    """The fields shown at once (required, without a default, set, or wrong) and those folded away."""
    main: list[FormField] = []
    more: list[FormField] = []
    for f in adapter["fields"]:
        shown = f.required or not f.default or adapter["values"].get(f.name) or f.name in errors
        (main if shown else more).append(f)
    return main, more


def _render_new(
    current: Page, *, status: int = 200, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> Response:
    return current.render(
        "participant.html",
        status=status,
        p=None,
        receipts=None,
        can_edit=True,
        all_versions=XDOMEA_VERSIONS,
        values=values or {**NEW_VALUES, "id": ""},
        errors=errors or {},
        saved=None,
    )


def _render(
    current: Page,
    session: Session,
    participant: Participant,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    adapter: dict[str, Any] | None = None,
    adapter_errors: dict[str, str] | None = None,
    cert_error: str | None = None,
    pem: str = "",
    saved: str | None = None,
) -> Response:
    configured = participant.receipt_policy or {}
    receipts = effective_receipts(participant.route_kind, participant.adapter_config or {}, configured)
    return current.render(
        "participant.html",
        status=status,
        p=participant,
        certs=_certificates(session, participant),
        routes=list(RouteKind),
        policies=list(SignaturePolicy),
        identifications=list(SenderIdentification),
        makers=list(ReceiptMaker),
        all_versions=XDOMEA_VERSIONS,
        receipts=receipts,
        can_edit=current.user is not None and current.user.role is ConsoleRole.GATEWAY_ADMIN,
        values=values or _form_values(participant),
        errors=errors or {},
        adapter=adapter or _adapter_form(participant, current.request.query_params.get("kind"), None),
        adapter_errors=adapter_errors or {},
        cert_error=cert_error,
        pem=pem,
        saved=saved,
        warning_days=EXPIRY_WARNING.days,
        split_fields=split_fields,
    )


@router.get("/participants/new")
def participant_new_page(current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    if current.user.role is not ConsoleRole.GATEWAY_ADMIN:
        raise ConsoleForbidden
    return _render_new(current)


@router.get("/participants/{xoev_id}")
def participant_page(xoev_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    with Session(current.state.engine) as session:
        participant = _visible(current, session, xoev_id)
        return _render(current, session, participant, saved=current.request.query_params.get("saved"))


# -- editing ---------------------------------------------------------------------------------------------


def _admin_only(current: Page, action: str, xoev_id: str) -> None:
    assert current.user is not None
    if current.user.role is not ConsoleRole.GATEWAY_ADMIN:
        audit.record(
            current.state.engine,
            current.user.name,
            action,
            target=xoev_id,
            result=audit.REFUSED,
            detail="role",
            client=current.client,
        )
        raise ConsoleForbidden


def _refused(current: Page, action: str, xoev_id: str, problems: dict[str, str] | str) -> None:
    assert current.user is not None
    detail = problems if isinstance(problems, str) else "; ".join(f"{k or 'form'}: {v}" for k, v in problems.items())
    audit.record(
        current.state.engine,
        current.user.name,
        action,
        target=xoev_id,
        result=audit.REFUSED,
        detail=detail,
        client=current.client,
    )


def _changed(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
    return json.dumps(changed, ensure_ascii=False, sort_keys=True)


def _write(session: Session, spec: ParticipantSpec) -> str:
    """Upsert and commit; DirectoryError (and the session rolled back) when the directory refuses it."""
    try:
        result = upsert(session, spec)
        session.commit()
    except DirectoryError:
        session.rollback()
        raise
    return result.outcome


def _posted_versions(form: dict[str, str]) -> list[str]:
    ticked = [v for v in XDOMEA_VERSIONS if form.get(f"v-{v}")]
    if ticked or any(k.startswith("v-") for k in form):
        return ticked
    return [v.strip() for v in form.get("versions", "").split(",") if v.strip()]  # a script's comma list


def _participant_input(participant: Participant, form: dict[str, str]) -> dict[str, Any]:
    raw = _spec_input(participant)
    route: dict[str, Any] = {"kind": form.get("route", "")}
    if form.get("endpoint", "").strip():
        route["endpoint_url"] = form["endpoint"].strip()
    receipts = {
        key: form[f"receipts_{key}"]
        for key in ("technical", "import_confirmations")
        if form.get(f"receipts_{key}", "").strip()
    }
    raw.update(
        name=form.get("name", "").strip(),
        accepted_versions=_posted_versions(form),
        route=route,
        signature_policy=form.get("policy", ""),
        sender_identification=form.get("sender_identification") or participant.sender_identification.value,
        receipts=receipts,
    )
    return raw


def _posted(form: dict[str, str], base: dict[str, Any]) -> dict[str, Any]:
    """The participant form's values as posted, to show them again with the problems beside them."""
    return {
        **base,
        **{k: form.get(k, "") for k in ("name", "route", "endpoint", "policy")},
        "versions": _posted_versions(form),
        "sender_identification": form.get("sender_identification") or base["sender_identification"],
        "receipts_technical": form.get("receipts_technical", ""),
        "receipts_import_confirmations": form.get("receipts_import_confirmations", ""),
    }


@router.post("/participants/new")
async def participant_create(current: Annotated[Page, Depends(signed_in)]) -> Response:
    """A new directory entry, as ``xgw participants add``; an identifier in use is refused, never overwritten."""
    assert current.user is not None
    form = await current.form()
    engine = current.state.engine
    action = "participant.create"
    xoev_id = form.get("id", "").strip()
    _admin_only(current, action, xoev_id or "-")
    values = {**_posted(form, NEW_VALUES), "id": xoev_id}
    with Session(engine, expire_on_commit=False) as session:
        errors: dict[str, str] = {}
        if xoev_id and get_participant(session, xoev_id) is not None:
            errors = {"id": current.t("dir_id_taken")}
        else:
            raw = {
                "id": xoev_id,
                "name": form.get("name", "").strip(),
                "accepted_versions": _posted_versions(form),
                "route": {"kind": form.get("route", "")}
                | ({"endpoint_url": form["endpoint"].strip()} if form.get("endpoint", "").strip() else {}),
                "signature_policy": form.get("policy", ""),
                "sender_identification": form.get("sender_identification") or "channel",
                "receipts": {
                    key: form[f"receipts_{key}"]
                    for key in ("technical", "import_confirmations")
                    if form.get(f"receipts_{key}", "").strip()
                },
            }
            try:
                _write(session, ParticipantSpec.model_validate(raw))
            except ValidationError as exc:
                errors = errors_by_field(exc, set(PARTICIPANT_FIELDS.values()), aliases=PARTICIPANT_FIELDS)
            except DirectoryError as exc:
                errors = {"": str(exc)}
        if errors:
            _refused(current, action, xoev_id or "-", errors)
            return _render_new(current, status=400, values=values, errors=errors)
        made = get_participant(session, xoev_id)
        assert made is not None
        created = _snapshot(made)
    audit.record(
        engine,
        current.user.name,
        action,
        target=xoev_id,
        detail=f"created: {json.dumps(created, ensure_ascii=False, sort_keys=True)}",
        client=current.client,
    )
    return current.redirect(f"{PREFIX}/participants/{xoev_id}?saved=participant")


@router.post("/participants/{xoev_id}")
async def participant_edit(xoev_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    assert current.user is not None
    form = await current.form()
    engine = current.state.engine
    action = "participant.edit"
    with Session(engine, expire_on_commit=False) as session:
        participant = _visible(current, session, xoev_id)
        _admin_only(current, action, xoev_id)
        before = _snapshot(participant)
        posted_values = _posted(form, _form_values(participant))
        try:
            spec = ParticipantSpec.model_validate(_participant_input(participant, form))
            outcome = _write(session, spec)
        except ValidationError as exc:
            errors = errors_by_field(exc, set(PARTICIPANT_FIELDS.values()), aliases=PARTICIPANT_FIELDS)
            _refused(current, action, xoev_id, errors)
            return _render(current, session, participant, status=400, values=posted_values, errors=errors)
        except DirectoryError as exc:
            _refused(current, action, xoev_id, str(exc))
            return _render(current, session, participant, status=400, values=posted_values, errors={"": str(exc)})
        after = _snapshot(participant)
    audit.record(
        engine,
        current.user.name,
        action,
        target=xoev_id,
        detail=f"{outcome}: {_changed(before, after)}",
        client=current.client,
    )
    return current.redirect(f"{PREFIX}/participants/{xoev_id}?saved=participant")


@router.post("/participants/{xoev_id}/adapter")
async def adapter_edit(xoev_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    """The DMS adapter of a participant from the form of its kind; kind "" removes the adapter."""
    assert current.user is not None
    form = await current.form()
    engine = current.state.engine
    action = "participant.adapter"
    kind = form.get("kind", "").strip()
    with Session(engine, expire_on_commit=False) as session:
        participant = _visible(current, session, xoev_id)
        _admin_only(current, action, xoev_id)
        before = _snapshot(participant)
        shown = _adapter_form(participant, kind, form)
        errors: dict[str, str] = {}
        config: dict[str, Any] = {}
        if kind:
            model = adapter_model(kind)
            if model is None:
                errors = {"": f"kind: no adapter {kind!r} with a configuration model is installed"}
            else:
                checked = read_form(model, form, prefix=ADAPTER_PREFIX, fixed={"kind": kind})
                errors, config = checked.errors, checked.values
        if not errors:
            raw = {**_spec_input(participant), "adapter": config}
            try:
                outcome = _write(session, ParticipantSpec.model_validate(raw))
            except ValidationError as exc:
                errors = errors_by_field(exc, set())
            except DirectoryError as exc:
                errors = {"": str(exc)}
        if errors:
            _refused(current, action, xoev_id, errors)
            return _render(current, session, participant, status=400, adapter=shown, adapter_errors=errors)
        after = _snapshot(participant)
    audit.record(
        engine,
        current.user.name,
        action,
        target=xoev_id,
        detail=f"{outcome}: {_changed(before, after)}",
        client=current.client,
    )
    return current.redirect(f"{PREFIX}/participants/{xoev_id}?saved=adapter#adapter-h")


@router.post("/participants/{xoev_id}/certificates")
async def certificate_add(xoev_id: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    """Pin the signing certificate(s) of a pasted or chosen PEM file, as ``certificates = [{pem = ...}]``."""
    assert current.user is not None
    form = await current.form()
    engine = current.state.engine
    action = "certificate.add"
    pem = form.get("pem", "").strip()
    with Session(engine, expire_on_commit=False) as session:
        participant = _visible(current, session, xoev_id)
        _admin_only(current, action, xoev_id)
        error = None
        added: list[str] = []
        if not pem:
            error = "pem: paste a PEM certificate (-----BEGIN CERTIFICATE----- ...) or choose its file"
        elif len(pem) > MAX_PEM_CHARS:
            error = f"pem: longer than {MAX_PEM_CHARS} characters"
        else:
            try:
                spec = ParticipantSpec.model_validate({**_spec_input(participant), "certificates": [{"pem": pem}]})
                added = upsert(session, spec).certificates_added
                session.commit()
            except ValidationError as exc:
                session.rollback()
                error = "; ".join(errors_by_field(exc, set()).values())
            except DirectoryError as exc:
                session.rollback()
                error = "; ".join(p.removeprefix(f"participant {xoev_id}: ") for p in exc.problems)
        if error is not None:
            _refused(current, action, xoev_id, error)
            return _render(current, session, participant, status=400, cert_error=error, pem=pem[:MAX_PEM_CHARS])
    audit.record(
        engine,
        current.user.name,
        action,
        target=xoev_id,
        detail=f"pinned {', '.join(added)}" if added else "already pinned",
        client=current.client,
    )
    return current.redirect(
        f"{PREFIX}/participants/{xoev_id}?saved={'certificate' if added else 'certificate_known'}#certs-h"
    )


@router.post("/participants/{xoev_id}/certificates/{fingerprint}/end")
async def certificate_end(xoev_id: str, fingerprint: str, current: Annotated[Page, Depends(signed_in)]) -> Response:
    """End the pin of one certificate now, as ``xgw keys expire``: the row stays, messages signed with it are
    refused as expired from now on."""
    assert current.user is not None
    await current.form()
    engine = current.state.engine
    action = "certificate.end"
    with Session(engine, expire_on_commit=False) as session:
        participant = _visible(current, session, xoev_id)
        _admin_only(current, action, f"{xoev_id} {fingerprint}")
        cert = session.exec(
            select(Certificate).where(
                col(Certificate.participant_id) == participant.id,
                col(Certificate.fingerprint_sha256) == fingerprint.lower(),
            )
        ).first()
        if cert is None:
            raise ConsoleNotFound
        now = utcnow()
        before = cert.not_after
        if cert.not_after > now:
            cert.not_after = now
            session.add(cert)
            session.commit()
    audit.record(
        engine,
        current.user.name,
        action,
        target=f"{xoev_id} {fingerprint}",
        detail=f"pinned until {before.isoformat(timespec='seconds')} -> {cert.not_after.isoformat(timespec='seconds')}",
        client=current.client,
    )
    return current.redirect(f"{PREFIX}/participants/{xoev_id}?saved=certificate_ended#certs-h")
