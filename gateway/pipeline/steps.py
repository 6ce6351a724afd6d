"""The worker's steps: what happens to a claimed message in each state, one transaction per transition.

A worker holds the message's lease while it runs the chain from the message's state to the next state
that waits for someone else (outbound: ``sent``; inbound: ``delivered`` or ``confirmed``). Each
transition is fenced by the lease and the expected state (:func:`gateway.pipeline.lifecycle.transition`), and
each step can be repeated: signing again writes a new payload (the first one becomes garbage), the
local mailbox finds a copy it already made, a receipt made before is found by its identity. A worker
killed anywhere therefore loses nothing and duplicates nothing; its lease expires and another worker
continues from the last committed state.

Failures: :class:`Permanent` ends the message in ``failed`` (a signature refused, no key to sign with,
a recipient gone); anything else is retried with exponential back-off and dead-lettered after
``pipeline.max_attempts`` tries, with the last error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from lxml import etree
from sqlmodel import Session

from adapters.base import AdapterError, ImportResult
from gateway.pipeline import directory, dms_delivery, receipts
from gateway.pipeline.checks import (
    ContentKind,
    SignatureMode,
    SignatureStatus,
    check_file,
    note_channel_sender,
    note_named_recipient,
)
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.dms import AdapterSpec, adapter_spec
from gateway.pipeline.errors import Conflict, Rejected
from gateway.pipeline.intake import package_name, stored_path, submit
from gateway.pipeline.lifecycle import release as release_lease
from gateway.pipeline.lifecycle import transition
from gateway.pipeline.logs import message_logger
from gateway.pipeline.states import NEVER, allowed
from gateway.pipeline.transport import SendStatus
from gateway.store.models import (
    DeliveryAttempt,
    DeliveryOutcome,
    Direction,
    Message,
    MessageState,
    SignaturePolicy,
)
from gateway.store.queue import LeaseLost, StateConflict, renew_lease
from gateway.store.types import utcnow
from gateway.xoev.build import BuildError, build_receipt, serialize
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.model import ObjectOutcome
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.signature import strip_signature
from gateway.xoev.signatures.signing import SigningError, sign_message
from gateway.xoev.validation.validate import ZIP_MAGIC

log = logging.getLogger(__name__)
S = MessageState
#: signature states of a payload that carries an enveloped signature
SIGNED_STATES = frozenset({SignatureStatus.SIGNED.value, SignatureStatus.VERIFIED.value})


class Permanent(Exception):
    """Retrying cannot help: the message ends in ``failed`` with this reason."""


class Retry(Exception):
    """A transient failure (a peer unreachable): try again after the back-off."""


class Step:
    """Runs the chain for one claimed message; ``run`` returns when the message waits for others."""

    def __init__(self, ctx: PipelineContext, session: Session, message: Message, worker_id: str) -> None:
        self.ctx = ctx
        self.session = session
        self.message = message
        self.worker_id = worker_id
        self.log = message_logger(log, message, worker_id=worker_id)

    # -- plumbing ------------------------------------------------------------------------------------

    def move(
        self,
        to_state: MessageState,
        reason: str,
        *,
        error: str | None = None,
        release: bool = False,
        next_attempt_at: datetime | None = None,
        values: dict[str, object] | None = None,
        commit: bool = True,
    ) -> None:
        m = self.message
        if not allowed(m.direction, m.state, to_state):
            raise RuntimeError(f"transition {m.state.value} -> {to_state.value} is not part of the lifecycle")
        transition(
            self.session,
            m,
            to_state,
            self.worker_id,
            reason,
            error,
            worker_id=self.worker_id,
            release=release,
            next_attempt_at=next_attempt_at,
            values=values,
            commit=commit,
        )
        self.log.info("%s: %s", to_state.value, reason, extra={"state": to_state.value})

    def run(self) -> None:
        settings = self.ctx.settings.pipeline
        m = self.message
        if m.attempts > settings.max_attempts:
            self.move(
                S.DEAD_LETTERED,
                f"given up after {m.attempts - 1} tries",
                error=m.error or "the message did not finish within its tries (a worker may have died on it)",
                release=True,
                next_attempt_at=NEVER,
            )
            return
        try:
            while self.advance():
                renew_lease(self.session, m, self.worker_id, settings.lease_seconds)
        except (LeaseLost, StateConflict):
            raise
        except Permanent as failure:
            self.session.rollback()
            self.move(S.FAILED, "refused", error=str(failure), release=True, next_attempt_at=NEVER)
        except Exception as failure:
            self.session.rollback()
            self.fail_transiently(f"{type(failure).__name__}: {failure}")

    def fail_transiently(self, error: str) -> None:
        settings = self.ctx.settings.pipeline
        m = self.message
        if m.attempts >= settings.max_attempts:
            self.move(
                S.DEAD_LETTERED,
                f"given up after {m.attempts} tries",
                error=error,
                release=True,
                next_attempt_at=NEVER,
            )
            return
        delay = min(settings.retry_base_seconds * 2 ** max(m.attempts - 1, 0), settings.retry_max_seconds)
        retry_at = utcnow() + timedelta(seconds=delay)
        release_lease(
            self.session,
            m,
            self.worker_id,
            f"try {m.attempts} failed; next try in {delay:.0f} s",
            error=error,
            retry_at=retry_at,
        )
        self.log.warning("try %d failed, retry in %.0f s: %s", m.attempts, delay, error)

    def advance(self) -> bool:
        """Make one transition; False when the message now waits for someone else."""
        m = self.message
        handlers = OUTBOUND if m.direction is Direction.OUTBOUND else INBOUND
        handler = handlers.get(m.state)
        if handler is None:
            return False
        return handler(self)

    # -- outbound ------------------------------------------------------------------------------------

    def sign(self) -> bool:
        m = self.message
        if m.signature_status == SignatureStatus.VERIFIED.value:
            self.move(S.QUEUED, "already signed by the sender (signature verified at intake)")
            return True
        if m.content_kind == ContentKind.ZIP.value:
            self.move(S.QUEUED, "not signed: packages carry no signature in this version")
            return True
        credentials = directory.signing_credentials(self.session, self.ctx.keys, m.sender_id)
        sender = directory.participant(self.session, m.sender_id)
        self.session.rollback()  # end the read transaction before the slow part
        if credentials is None:
            if sender is not None and sender.signature_policy is SignaturePolicy.REQUIRE:
                raise Permanent(
                    f"no usable signing key for {m.sender_id} on this gateway, and its messages must be signed; "
                    f"create one with: xgw keys create {m.sender_id}"
                )
            self.move(S.QUEUED, f"not signed: no signing key for {m.sender_id}, its policy allows unsigned messages")
            return True
        with self.ctx.payloads.open(m.payload_ref) as fh:
            data = fh.read()
        try:
            signed = sign_message(data, credentials.key, credentials.chain, limits=self.ctx.settings.limits)
        except SigningError as exc:
            raise Permanent(f"cannot sign: {exc}") from None
        ref = self.ctx.payloads.put_bytes(signed)
        self.move(
            S.SIGNED,
            f"signed with certificate {credentials.fingerprint}",
            values={
                "payload_ref": ref.sha256,
                "signature_status": SignatureStatus.SIGNED.value,
                "signer_fingerprint": credentials.fingerprint,
            },
        )
        return True

    def route(self) -> bool:
        m = self.message
        recipient = directory.participant(self.session, m.recipient_id)
        if recipient is None:
            raise Permanent(f"the recipient {m.recipient_id} is no longer in the participant directory")
        self.move(S.QUEUED, f"route {recipient.route_kind.value} to {m.recipient_id}")
        return True

    def send(self) -> bool:
        m = self.message
        recipient = directory.participant(self.session, m.recipient_id)
        if recipient is None:
            raise Permanent(f"the recipient {m.recipient_id} is no longer in the participant directory")
        transport = self.ctx.transport_for(recipient.route_kind)
        started = utcnow()
        result = transport.send(self.session, m, actor=self.worker_id)
        attempt = DeliveryAttempt(
            message_id=m.id,
            peer=result.peer,
            started_at=started,
            finished_at=utcnow(),
            outcome=result.outcome,
            error=None if result.status is SendStatus.SENT else result.detail,
        )
        if result.status is SendStatus.SENT:
            self.session.add(attempt)
            self.move(S.SENT, result.detail, release=True, next_attempt_at=NEVER)
            return False
        self.session.rollback()
        self.session.add(attempt)
        self.session.commit()
        if result.status is SendStatus.REJECTED:
            raise Permanent(f"{result.peer} refused the message: {result.detail}")
        raise Retry(result.detail)

    # -- inbound -------------------------------------------------------------------------------------

    def check(self) -> bool:
        m = self.message
        mode = SignatureMode.POLICY
        if m.channel == "local" and m.content_kind == ContentKind.ZIP.value:
            mode = SignatureMode.IF_PRESENT  # submitted on this gateway by its authenticated sender
        trust = directory.trust_directory(self.session, [m.sender_id])
        self.session.rollback()
        with self.named_copy() as path:
            checked = check_file(
                self.ctx.validator, path, name=m.filename, directory=trust, mode=mode, sender=m.sender_id
            )
        note_channel_sender(checked, m.sender_id, "the sender's channel at intake")
        note_named_recipient(checked, m.recipient_id, "intake")
        if checked.signature is SignatureStatus.REFUSED:
            first = checked.report.errors[0] if checked.report.errors else None
            raise Permanent(f"signature refused: {first.rule + ' ' + first.message if first else 'unknown reason'}")
        if m.state is S.RECEIVED:
            self.move(
                S.VERIFIED,
                f"signature {checked.signature.value}"
                + (f" by certificate {checked.signer_fingerprint}" if checked.signer_fingerprint else ""),
                values={"signature_status": checked.signature.value, "signer_fingerprint": checked.signer_fingerprint},
            )
        if not checked.valid:
            self.session.rollback()
            first = checked.report.errors[0] if checked.report.errors else None
            raise Permanent(f"not valid: {first.rule + ' ' + first.message if first else 'unreadable'}")
        self.move(
            S.VALIDATED,
            f"valid xdomea {m.xdomea_version} {m.message_type} ({len(checked.report.warnings)} warning(s))",
            values={"validation_report": checked.report.to_json()},
        )
        return True

    def deliver(self) -> bool:
        m = self.message
        recipient = directory.participant(self.session, m.recipient_id)
        if recipient is None:
            raise Permanent(f"the recipient {m.recipient_id} is no longer in the participant directory")
        spec = self.adapter_spec(recipient.xoev_id, recipient.adapter_config)
        reason = f"in the mailbox of {m.recipient_id}"
        policy = receipts.answers_for(recipient, spec, self.ctx.settings.pipeline.auto_receipts)
        confirm = False
        if spec is not None:
            result = self.import_to_dms(spec)
            reason = f"imported into the DMS of {m.recipient_id} ({spec.kind}, {result.status.value})" + (
                f" as {result.location}" if result.location else ""
            )
            confirm = policy.confirmations and dms_delivery.confirmation_code(m.message_type) is not None
        answered = receipts.find_answered(self.session, m)
        values: dict[str, object] = {}
        if answered is not None:
            values["reply_to_id"] = answered.id
            if receipts.acknowledge(self.session, answered, m, actor=self.worker_id):
                reason += f"; acknowledges message {answered.id}"
        pending = confirm or (policy.technical and receipts.receipt_code(m) is not None)
        self.move(
            S.DELIVERED,
            reason,
            values=values,
            release=not pending,
            next_attempt_at=None if pending else NEVER,
        )
        return pending

    def answer(self) -> bool:
        sent = self.send_answers(self.answer_policy())
        self.move(S.CONFIRMED, "; ".join(sent) or "nothing to answer", release=True, next_attempt_at=NEVER)
        return False

    def answer_policy(self) -> receipts.Answers:
        """Which answers the gateway makes for the message's recipient, read now (the directory may change)."""
        recipient = directory.participant(self.session, self.message.recipient_id)
        if recipient is None:
            return receipts.Answers(technical=False, confirmations=False)
        spec = self.adapter_spec(recipient.xoev_id, recipient.adapter_config)
        return receipts.answers_for(recipient, spec, self.ctx.settings.pipeline.auto_receipts)

    def send_answers(self, policy: receipts.Answers, *, reason: str | None = None) -> list[str]:
        """The Empfangsbestaetigung and the import confirmation the message asks for, as far as ``policy``
        lets the gateway make them; each made once: an answer made by an earlier, interrupted try (or by
        the recipient itself) is found by its identity."""
        m = self.message
        sent = []
        code = receipts.receipt_code(m)
        if code is not None and policy.technical:
            sent.append(f"Empfangsbestaetigung {code} sent as message {self.ensure_answer(code)}")
        confirmation = dms_delivery.confirmation_code(m.message_type) if policy.confirmations else None
        if confirmation is not None:
            model = parse_message(self.unsigned_tree())
            rows = dms_delivery.delivered_objects(self.session, m.id)
            # no rows and no refusal: the message was not delivered through the adapter (it was added later)
            if model.kopf.import_confirmation_requested and (rows or reason is not None):
                outcomes = dms_delivery.outcomes(model, rows, reason)
                made = self.ensure_answer(confirmation, model=model, outcomes=outcomes)
                failed = sum(1 for o in outcomes if o.success is False)
                sent.append(
                    f"Importbestaetigung {confirmation} ({len(outcomes) - failed} imported, {failed} failed) "
                    f"sent as message {made}"
                )
        return sent

    def ensure_answer(
        self, code: str, *, model: XdomeaMessage | None = None, outcomes: list[ObjectOutcome] | None = None
    ) -> uuid.UUID:
        existing = receipts.existing_receipt(self.session, self.message, code)
        self.session.rollback()
        return existing if existing is not None else self.make_receipt(code, model=model, outcomes=outcomes)

    def make_receipt(
        self, code: str, *, model: XdomeaMessage | None = None, outcomes: list[ObjectOutcome] | None = None
    ) -> uuid.UUID:
        m = self.message
        model = model or parse_message(self.unsigned_tree())
        try:
            built = build_receipt(model, code, outcomes=outcomes, registry=self.ctx.registry)
        except BuildError as exc:
            raise Permanent(f"cannot build the {code} answering this message: {exc}") from None
        data = serialize(built.tree)
        try:
            result = submit(
                self.ctx,
                [data],
                sender=m.recipient_id,
                filename=f"{built.stem}.xml",
                channel="receipt",
                actor=self.worker_id,
                reply_to_id=m.id,
                recipient=m.sender_id,
            )
        except Conflict as conflict:  # made by a worker that lost its lease meanwhile
            return conflict.existing_id
        except Rejected as refused:  # e.g. the answered sender does not accept this xdomea version
            raise Permanent(f"cannot send the {code} answering this message: {refused.detail}") from None
        return result.message.id

    # -- delivery into the recipient's DMS -------------------------------------------------------------

    def adapter_spec(self, participant: str, config: dict[str, object]) -> AdapterSpec | None:
        try:
            return adapter_spec(participant, config)
        except AdapterError as exc:  # a person must fix the directory; until then it is retried, then dead
            raise Retry(str(exc)) from None

    def import_to_dms(self, spec: AdapterSpec) -> ImportResult:
        """Import through the recipient's adapter; the per-object rows join the caller's transaction.

        Nothing reached the DMS (down, credentials, configuration) -> :class:`Retry`. The adapter refused
        the message or part of it -> the rows and the negative confirmation are kept, then
        :class:`Permanent`.
        """
        m = self.message
        message_id, filename, sender = m.id, self.payload_name(), m.sender_id
        peer = f"adapter:{spec.kind}:{spec.participant}"
        started = utcnow()
        try:
            with self.dms_payload() as path:
                self.session.rollback()  # end the read transaction before the slow part
                result = dms_delivery.import_into(self.ctx.adapters, self.ctx.settings, spec, path, filename, sender)
        except AdapterError as exc:
            self.session.add(
                DeliveryAttempt(
                    message_id=message_id,
                    peer=peer,
                    started_at=started,
                    finished_at=utcnow(),
                    outcome=DeliveryOutcome.FAILED,
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
            self.session.commit()
            raise Retry(f"the DMS of {spec.participant} ({spec.kind}): {exc}") from None
        dms_delivery.record(self.session, message_id, spec.kind, result)
        attempt = DeliveryAttempt(message_id=message_id, peer=peer, started_at=started, finished_at=utcnow())
        if result.ok:
            attempt.outcome = DeliveryOutcome.SUCCEEDED
            self.session.add(attempt)
            self.log.info("imported into the DMS of %s: %s", spec.participant, result.location or result.status.value)
            return result
        why = result.reason or "the adapter gave no reason"
        attempt.outcome, attempt.error = DeliveryOutcome.REJECTED, why
        self.session.add(attempt)
        self.session.commit()
        sent = self.send_answers(self.answer_policy(), reason=why)
        raise Permanent(
            f"the DMS of {spec.participant} did not import the message ({result.status.value}): {why}"
            + (f"; {'; '.join(sent)}" if sent else "")
        )

    # -- payload access ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def named_copy(self) -> Iterator[Path]:
        """The payload under its file name (package checks read it), as a hard link: no bytes are copied."""
        m = self.message
        source = self.ctx.payloads.path_of(m.payload_ref)
        name = self.payload_name() or "message.xml"
        folder = Path(tempfile.mkdtemp(prefix="view-", dir=self.ctx.payloads.root / "tmp"))
        target = folder / name
        try:
            os.link(source, target)
            yield target
        finally:
            target.unlink(missing_ok=True)
            folder.rmdir()

    def payload_name(self) -> str | None:
        """The message's file name; a package submitted without one is named after its message XML, as
        intake named it for its checks (the package rules, here and in a DMS adapter, read the name)."""
        m = self.message
        if m.filename or m.content_kind != ContentKind.ZIP.value:
            return m.filename
        source = self.ctx.payloads.path_of(m.payload_ref)
        return package_name(source, self.ctx.settings.limits.max_package_entries) or "message.zip"

    @contextlib.contextmanager
    def dms_payload(self) -> Iterator[Path]:
        """What a DMS receives: the payload, but an XML message without the enveloped signature.

        The signature protected the transport and was verified by the check step; left in, it makes the
        message invalid against the xdomea schema the DMS (and the adapter) validate with. The copy is the
        same bytes on every try, so an adapter's ledger recognises a redelivery.
        """
        m = self.message
        path = stored_path(self.ctx, m)
        if m.content_kind == ContentKind.ZIP.value or m.signature_status not in SIGNED_STATES:
            yield path
            return
        data = etree.tostring(self.unsigned_tree(), xml_declaration=True, encoding="UTF-8")
        with tempfile.NamedTemporaryFile(dir=self.ctx.payloads.root / "tmp", prefix="dms-", suffix=".xml") as fh:
            fh.write(data)
            fh.flush()
            yield Path(fh.name)

    def unsigned_tree(self) -> etree._ElementTree:
        m = self.message
        if m.content_kind == ContentKind.ZIP.value:
            with self.named_copy() as path:
                result = self.ctx.validator.validate_path(path)
            if result.tree is None:
                raise Permanent("the package's message XML cannot be read")
            return result.tree
        with self.ctx.payloads.open(m.payload_ref) as fh:
            data = fh.read()
        if data.startswith(ZIP_MAGIC):
            raise Permanent("the payload is a package, but the message says XML")
        return strip_signature(parse_xml(data, self.ctx.settings.limits))


OUTBOUND = {S.VALIDATED: Step.sign, S.SIGNED: Step.route, S.QUEUED: Step.send}
INBOUND = {S.RECEIVED: Step.check, S.VERIFIED: Step.check, S.VALIDATED: Step.deliver, S.DELIVERED: Step.answer}


def run_step(ctx: PipelineContext, session: Session, message: Message, worker_id: str) -> None:
    if not ctx.settings.console.tracing:
        Step(ctx, session, message, worker_id).run()
        return
    from gateway.observability.tracing import message_span

    with message_span(
        "pipeline.message",
        str(message.id),
        state=message.state.value,
        process_id=message.process_id,
        message_type=message.message_type,
        worker=worker_id,
        provider=ctx.tracer_provider,
    ):
        Step(ctx, session, message, worker_id).run()
