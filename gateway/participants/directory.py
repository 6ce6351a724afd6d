"""Reading, writing and importing directory entries; the CLI and the admin API both go through here.

An import is an idempotent upsert: importing the same file twice changes nothing the second time, and
an entry whose identifier exists is updated in place (its id, and so its tokens and pinned
certificates, stay). Certificates are only ever added by an import: a pin made with ``xgw keys`` or
ended with ``xgw keys expire`` is left exactly as it is, so re-importing the demo file can never
revive a certificate an operator retired. A whole file is imported in one transaction: either every
entry is written or none.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, col, select

from gateway.participants.spec import CertificateSpec, DirectoryFile, ParticipantSpec, effective_receipts
from gateway.store.models import (
    Certificate,
    CertificateUsage,
    Participant,
    ReceiptMaker,
    RouteKind,
    SenderIdentification,
    SignaturePolicy,
)
from gateway.store.types import utcnow
from gateway.xoev.signatures.keys import certificate_pem, load_certificates
from gateway.xoev.signatures.signature import certificate_fingerprint

MAX_DIRECTORY_FILE_BYTES = 16 * 1024 * 1024


class DirectoryError(ValueError):
    """A directory entry or file cannot be used; ``problems`` name each entry and what is wrong with it."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class CertificateView(BaseModel):
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    usage: CertificateUsage


class RouteView(BaseModel):
    """A route as stored (no validation: rows written by other tools must still be shown)."""

    kind: RouteKind
    endpoint_url: str | None


class ReceiptsView(BaseModel):
    """Who makes the answers to messages delivered to the participant, as configured and as in effect."""

    technical: ReceiptMaker
    import_confirmations: ReceiptMaker
    configured: dict[str, Any] = Field(description="The entry's receipts table; unset keys are derived.")
    basis: str = Field(description="What the unset keys were derived from.", examples=["x-man transfer directory"])


class ParticipantView(BaseModel):
    """A directory entry as shown by the CLI and the API: the spec's fields plus the pinned certificates."""

    id: str = Field(examples=["psw:16077000"])
    name: str = Field(examples=["Landratsamt Altenburger Land"])
    accepted_versions: list[str] = Field(examples=[["3.0.0", "3.1.0", "4.0.0"]])
    route: RouteView
    signature_policy: SignaturePolicy
    adapter: dict[str, Any]
    sender_identification: SenderIdentification
    receipts: ReceiptsView
    certificates: list[CertificateView]
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class UpsertResult:
    xoev_id: str
    outcome: Literal["created", "updated", "unchanged"]
    certificates_added: list[str] = field(default_factory=list)


# -- reading files ---------------------------------------------------------------------------------------


def _describe_errors(error: ValidationError, prefix: str) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"{prefix}{where + ': ' if where else ''}{item['msg']}")
    return problems


def parse_entries(raw: Any, source: str) -> list[ParticipantSpec]:
    """Validate the decoded content of a directory file entry by entry, naming each faulty entry."""
    if not isinstance(raw, dict) or not isinstance(raw.get("participant"), list):
        raise DirectoryError([f"{source}: expected a list of participant entries ([[participant]] in TOML)"])
    unknown = sorted(set(raw) - {"participant"})
    if unknown:
        raise DirectoryError([f"{source}: unknown top-level key(s) {', '.join(unknown)}"])
    problems: list[str] = []
    specs: list[ParticipantSpec] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(raw["participant"], start=1):
        ident = entry.get("id") if isinstance(entry, dict) else None
        label = f"{source}: participant #{number}" + (f" ({ident})" if isinstance(ident, str) else "") + ": "
        try:
            spec = ParticipantSpec.model_validate(entry)
        except ValidationError as exc:
            problems.extend(_describe_errors(exc, label))
            continue
        if spec.id in seen:
            problems.append(f"{label}id {spec.id} is already used by participant #{seen[spec.id]}")
            continue
        seen[spec.id] = number
        specs.append(spec)
    if problems:
        raise DirectoryError(problems)
    DirectoryFile(participant=specs)  # the whole-file model stays the single definition of the format
    return specs


def read_directory_file(path: Path) -> list[ParticipantSpec]:
    """Entries of a ``.toml`` or ``.json`` directory file; certificate files resolve relative to it."""
    try:
        size = path.stat().st_size
        if size > MAX_DIRECTORY_FILE_BYTES:
            raise DirectoryError([f"{path}: {size} bytes is larger than {MAX_DIRECTORY_FILE_BYTES} bytes"])
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DirectoryError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise DirectoryError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    try:
        if path.suffix.lower() == ".json":
            raw: Any = json.loads(text)
        else:
            raw = tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise DirectoryError([f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError([f"{path}: invalid TOML: {exc}"]) from None
    specs = parse_entries(raw, str(path))
    base = path.resolve().parent
    for spec in specs:
        for cert in spec.certificates:
            if cert.pem_file is not None and not cert.pem_file.is_absolute():
                cert.pem_file = base / cert.pem_file
    return specs


# -- the database --------------------------------------------------------------------------------------


def get_participant(session: Session, xoev_id: str) -> Participant | None:
    return session.exec(select(Participant).where(Participant.xoev_id == xoev_id)).first()


def list_participants(session: Session) -> list[Participant]:
    return list(session.exec(select(Participant).order_by(col(Participant.xoev_id))).all())


def view(session: Session, participant: Participant) -> ParticipantView:
    certificates = session.exec(
        select(Certificate)
        .where(Certificate.participant_id == participant.id)
        .order_by(col(Certificate.not_after), col(Certificate.id))
    ).all()
    return ParticipantView(
        id=participant.xoev_id,
        name=participant.display_name,
        accepted_versions=list(participant.accepted_versions),
        route=RouteView(kind=participant.route_kind, endpoint_url=participant.endpoint_url),
        signature_policy=participant.signature_policy,
        adapter=dict(participant.adapter_config),
        sender_identification=participant.sender_identification,
        receipts=_receipts_view(participant),
        certificates=[
            CertificateView(
                fingerprint_sha256=c.fingerprint_sha256, not_before=c.not_before, not_after=c.not_after, usage=c.usage
            )
            for c in certificates
        ],
        created_at=participant.created_at,
        updated_at=participant.updated_at,
    )


def _receipts_view(participant: Participant) -> ReceiptsView:
    configured = dict(participant.receipt_policy or {})
    effective = effective_receipts(participant.route_kind, participant.adapter_config or {}, configured)
    return ReceiptsView(
        technical=effective.technical,
        import_confirmations=effective.import_confirmations,
        configured=configured,
        basis=effective.basis,
    )


def _certificate_bytes(spec: CertificateSpec, label: str) -> bytes:
    if spec.pem is not None:
        return spec.pem.encode("ascii", errors="replace")
    assert spec.pem_file is not None
    try:
        return spec.pem_file.read_bytes()
    except OSError as exc:
        raise DirectoryError([f"{label}: certificate file {spec.pem_file}: {exc.strerror or exc}"]) from None


def _pin_certificates(session: Session, participant: Participant, spec: ParticipantSpec) -> list[str]:
    label = f"participant {spec.id}"
    added: list[str] = []
    for cert_spec in spec.certificates:
        try:
            certificates = load_certificates(_certificate_bytes(cert_spec, label))
        except ValueError as exc:
            raise DirectoryError([f"{label}: not a PEM certificate ({exc})"]) from None
        for certificate in certificates:
            fingerprint = certificate_fingerprint(certificate)
            existing = session.exec(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint)).first()
            if existing is not None:
                if existing.participant_id != participant.id:
                    owner = session.get(Participant, existing.participant_id)
                    raise DirectoryError(
                        [f"{label}: certificate {fingerprint} is already pinned for {owner.xoev_id if owner else '?'}"]
                    )
                continue  # pinned already: its pin period (perhaps ended by `xgw keys expire`) stays
            assert participant.id is not None
            session.add(
                Certificate(
                    participant_id=participant.id,
                    pem=certificate_pem([certificate]),
                    fingerprint_sha256=fingerprint,
                    not_before=certificate.not_valid_before_utc,
                    not_after=certificate.not_valid_after_utc,
                    usage=CertificateUsage.SIGNING,
                )
            )
            added.append(fingerprint)
    return added


def _fields(spec: ParticipantSpec) -> dict[str, Any]:
    return {
        "display_name": spec.name,
        "accepted_versions": list(spec.accepted_versions),
        "route_kind": spec.route.kind,
        "endpoint_url": spec.route.endpoint_url if spec.route.kind is RouteKind.XTA else None,
        "signature_policy": spec.signature_policy,
        "adapter_config": dict(spec.adapter),
        "sender_identification": spec.sender_identification,
        "receipt_policy": spec.receipts.model_dump(mode="json", exclude_none=True),
    }


def upsert(session: Session, spec: ParticipantSpec) -> UpsertResult:
    """Create or update one entry (the caller commits); certificates are added, never removed."""
    values = _fields(spec)
    participant = get_participant(session, spec.id)
    if participant is None:
        participant = Participant(xoev_id=spec.id, **values)
        session.add(participant)
        session.flush()
        outcome: Literal["created", "updated", "unchanged"] = "created"
    else:
        changed = {k: v for k, v in values.items() if getattr(participant, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(participant, key, value)
            participant.updated_at = utcnow()
            session.add(participant)
            session.flush()
        outcome = "updated" if changed else "unchanged"
    added = _pin_certificates(session, participant, spec)
    if added and outcome == "unchanged":
        outcome = "updated"
    return UpsertResult(spec.id, outcome, added)


def import_entries(session: Session, specs: Sequence[ParticipantSpec]) -> list[UpsertResult]:
    """Upsert every entry; the caller's transaction makes it all or nothing."""
    return [upsert(session, spec) for spec in specs]
