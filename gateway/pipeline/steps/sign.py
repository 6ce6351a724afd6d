"""Outbound ``validated -> signed`` (or straight to ``queued``): sign the message with its sender's key.

A message the sender signed itself (verified at intake) and a package (no signature in this version)
are not signed. Otherwise the sender's newest usable certificate whose private key this gateway holds
signs it; the signed payload is stored (fsynced) before the transition that names it. Without a key the
sender's signature policy decides: ``require`` fails the message, otherwise it goes unsigned.
The transition is deferred: the routing step commits it together with its own.
"""

from __future__ import annotations

from gateway.pipeline import directory
from gateway.pipeline.checks import ContentKind, SignatureStatus
from gateway.pipeline.steps.job import Job, Permanent
from gateway.store.models import MessageState, SignaturePolicy
from gateway.xoev.signatures.signing import SigningError, sign_message

S = MessageState


def sign(job: Job) -> bool:
    m = job.message
    if m.signature_status == SignatureStatus.VERIFIED.value:
        job.move(S.QUEUED, "already signed by the sender (signature verified at intake)", defer=True)
        return True
    if m.content_kind == ContentKind.ZIP.value:
        job.move(S.QUEUED, "not signed: packages carry no signature in this version", defer=True)
        return True
    credentials = directory.signing_credentials(job.session, job.ctx.keys, m.sender_id)
    sender = job.participant(m.sender_id)
    job.end_reads()  # before the slow part
    if credentials is None:
        if sender is not None and sender.signature_policy is SignaturePolicy.REQUIRE:
            raise Permanent(
                f"no usable signing key for {m.sender_id} on this gateway, and its messages must be signed; "
                f"create one with: xgw keys create {m.sender_id}"
            )
        job.move(
            S.QUEUED, f"not signed: no signing key for {m.sender_id}, its policy allows unsigned messages", defer=True
        )
        return True
    with job.ctx.payloads.open(m.payload_ref) as fh:
        data = fh.read()
    try:
        signed = sign_message(data, credentials.key, credentials.chain, limits=job.ctx.settings.limits)
    except SigningError as exc:
        raise Permanent(f"cannot sign: {exc}") from None
    ref = job.ctx.payloads.put_bytes(signed)
    job.move(
        S.SIGNED,
        f"signed with certificate {credentials.fingerprint}",
        values={
            "payload_ref": ref.sha256,
            "signature_status": SignatureStatus.SIGNED.value,
            "signer_fingerprint": credentials.fingerprint,
        },
        defer=True,
    )
    return True
