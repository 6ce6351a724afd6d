"""Participants, keys and messages for the pipeline tests, built with the gateway's own builders."""

from __future__ import annotations

import io
from pathlib import Path

from sqlmodel import Session, col, select

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.intake import SubmitResult, submit
from gateway.samples.generate import ARCHIVE, SENDER, generate_message
from gateway.store.models import Certificate, CertificateUsage, Participant, RouteKind, SignaturePolicy
from gateway.xoev.build import build
from gateway.xoev.signatures.keys import (
    KeyAlgorithm,
    certificate_pem,
    generate_key,
    self_signed_certificate,
    subject_name,
)
from gateway.xoev.signatures.signature import certificate_fingerprint

GOTHA = "psw:16067000"
ARCHIVE_ID = "psw:16000001"
SAMPLE_SENDER = "AbsBehoerdenkennungPraefixCode:LATh"
SAMPLE_RECIPIENT = "EmpBehoerdenkennungPraefixCode:LATh"
GATEWAY_RECEIPTS = {"technical": "gateway"}
SHARED = Path(__file__).resolve().parents[3] / "shared" / "xoev"
SAMPLES = SHARED / "samples"


def add_participant(
    session: Session,
    xoev_id: str,
    *,
    policy: SignaturePolicy = SignaturePolicy.REQUIRE,
    route: RouteKind = RouteKind.MAILBOX,
    endpoint_url: str | None = None,
    receipts: dict[str, str] | None = None,
    versions: list[str] | None = None,
) -> Participant:
    row = Participant(
        xoev_id=xoev_id,
        display_name=xoev_id,
        accepted_versions=versions or ["2.3.0", "2.4.0", "3.0.0", "3.1.0", "4.0.0"],
        route_kind=route,
        endpoint_url=endpoint_url,
        signature_policy=policy,
        receipt_policy=receipts or {},
    )
    session.add(row)
    session.flush()
    return row


def directory_entry(session: Session, xoev_id: str) -> Participant:
    return session.exec(select(Participant).where(col(Participant.xoev_id) == xoev_id)).one()


def add_signing_key(ctx: PipelineContext, session: Session, participant: Participant) -> str:
    key = generate_key(KeyAlgorithm.EC)
    ctx.keys.save(key)
    certificate = self_signed_certificate(key, subject_name(participant.xoev_id, serial=participant.xoev_id), days=30)
    assert participant.id is not None
    session.add(
        Certificate(
            participant_id=participant.id,
            pem=certificate_pem([certificate]),
            fingerprint_sha256=certificate_fingerprint(certificate),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            usage=CertificateUsage.SIGNING,
        )
    )
    return certificate_fingerprint(certificate)


def directory(ctx: PipelineContext) -> None:
    with ctx.session() as session:
        for xoev_id in (GOTHA, ARCHIVE_ID):
            # the gateway answers for them with technical receipts (a mailbox's default since issue 9 is that
            # its own system answers): these tests exercise the gateway's receipts
            add_signing_key(ctx, session, add_participant(session, xoev_id, receipts=GATEWAY_RECEIPTS))
        add_participant(session, SAMPLE_SENDER, policy=SignaturePolicy.ACCEPT)
        add_participant(session, SAMPLE_RECIPIENT, policy=SignaturePolicy.ACCEPT)
        session.commit()


def offer(seed: int = 0, *, version: str = "3.0.0", documents: int = 1) -> tuple[str, bytes]:
    """A 0501 Anbieteverzeichnis from Gotha to the archive (asks for an Empfangsbestaetigung)."""
    generated = generate_message(version, "0501", documents=documents, size=0, seed=seed)
    built = build(generated.message)
    return f"{built.stem}.xml", built.to_bytes()


def submit_bytes(
    ctx: PipelineContext, data: bytes, *, sender: str = GOTHA, filename: str | None = None
) -> SubmitResult:
    return submit(ctx, io.BytesIO(data), sender=sender, filename=filename, channel="rest")


__all__ = ["ARCHIVE", "SENDER", "submit"]
