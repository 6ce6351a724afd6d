"""Inbound ``received -> verified -> validated``: the recipient's side checks what arrived, for real.

The payload is parsed once, its signature verified against the sender's pinned certificates and policy,
and the message without signature validated; what was learned becomes the job's
:class:`~gateway.pipeline.known.Known`, so delivery and the answers read no payload again. Both
transitions are deferred to the delivery's commit; a refused or invalid message commits ``verified``
first, then fails.
"""

from __future__ import annotations

from gateway.pipeline import directory
from gateway.pipeline.checks import (
    ContentKind,
    SignatureMode,
    SignatureStatus,
    check_file,
    note_channel_sender,
    note_named_recipient,
)
from gateway.pipeline.known import Known
from gateway.pipeline.steps.job import Job, Permanent
from gateway.pipeline.steps.payload import named_copy
from gateway.store.models import MessageState

S = MessageState


def check(job: Job) -> bool:
    m = job.message
    mode = SignatureMode.POLICY
    if m.channel == "local" and m.content_kind == ContentKind.ZIP.value:
        mode = SignatureMode.IF_PRESENT  # submitted on this gateway by its authenticated sender
    trust = directory.trust_directory(job.session, [m.sender_id])
    job.end_reads()
    with named_copy(job) as path:
        checked = check_file(job.ctx.validator, path, name=m.filename, directory=trust, mode=mode, sender=m.sender_id)
    note_channel_sender(checked, m.sender_id, "the sender's channel at intake")
    note_named_recipient(checked, m.recipient_id, "intake")
    if checked.signature is SignatureStatus.REFUSED:
        first = checked.report.errors[0] if checked.report.errors else None
        raise Permanent(f"signature refused: {first.rule + ' ' + first.message if first else 'unknown reason'}")
    if m.state is S.RECEIVED:
        job.move(
            S.VERIFIED,
            f"signature {checked.signature.value}"
            + (f" by certificate {checked.signer_fingerprint}" if checked.signer_fingerprint else ""),
            values={"signature_status": checked.signature.value, "signer_fingerprint": checked.signer_fingerprint},
            defer=True,
        )
    if not checked.valid:
        first = checked.report.errors[0] if checked.report.errors else None
        raise Permanent(f"not valid: {first.rule + ' ' + first.message if first else 'unreadable'}")
    if checked.tree is not None and checked.model is not None:
        job.known = Known(m.payload_ref, checked.tree, checked.model)
    job.move(
        S.VALIDATED,
        f"valid xdomea {m.xdomea_version} {m.message_type} ({len(checked.report.warnings)} warning(s))",
        values={"validation_report": checked.report.to_json()},
        defer=True,
    )
    return True
