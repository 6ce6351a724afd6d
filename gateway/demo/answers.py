"""The other side's answer to a message, as the demo's walkthrough needs it: ``xgw demo answer FILE --type CODE``.

In the demo the archive and the district answer by hand -- there is no x-man and no DMS behind them --
so somebody has to write the 0502 that appraises a 0501, the receipts, the 0503 that hands over what
was appraised and the 0506 that confirms its import. Each answer must belong to the message it answers
(same ProzessID, Absender and Empfaenger swapped, the answered objects named), which generated messages
of their own would not; this module builds it from the received file with the xdomea engine's reply
builder, which also validates it.

The 0503 is the one answer that carries records: it hands over generated Akten (with primary files) under
the ProzessID of the 0501 or 0502 it follows. A real DMS would hand over exactly the objects the archive
appraised as worth keeping; the demo's records are made up, which the gateway does not check.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from gateway.config import Settings
from gateway.samples.generate import generate_message
from gateway.xoev.build import REPLIES, BuildError, build_receipt, write_package
from gateway.xoev.model import Message
from gateway.xoev.parsing.parse import NotXdomea, parse_message
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.signatures.signature import strip_signature
from gateway.xoev.validation.validate import validate_path

#: what may follow which message in an Aussonderung besides the replies of REPLIES: the hand-over
HAND_OVER_AFTER = ("0501", "0502")
#: replies that ask for their own Empfangsbestaetigung (the archive's appraisal asks for a 0505)
ASKS_FOR_RECEIPT = ("0502",)
HAND_OVER_DOCUMENTS = 3
HAND_OVER_BYTES = 96 * 1024


class AnswerError(ValueError):
    """The file cannot be answered with that code; the message says why and what would fit."""


def read_message(path: Path, registry: SchemaRegistry, settings: Settings) -> Message:
    """The message in ``path`` (XML, signed or not, or a ZIP package), read as ``xgw validate`` reads it."""
    result = validate_path(path, registry=registry, settings=settings)
    if result.tree is None:
        first = result.report.errors[0].message if result.report.errors else "unreadable"
        raise AnswerError(f"{path}: not an xdomea message ({first})")
    try:
        return parse_message(strip_signature(result.tree, in_place=True))
    except NotXdomea as exc:
        raise AnswerError(f"{path}: {exc}") from None


def answers_to(code: str) -> tuple[str, ...]:
    """The codes that can answer a message of type ``code`` here."""
    return (*REPLIES.get(code, ()), *(("0503",) if code in HAND_OVER_AFTER else ()))


def answer(answered: Message, code: str, out_dir: Path, registry: SchemaRegistry) -> Path:
    """Write the message ``code`` answering ``answered`` into ``out_dir``; returns its path."""
    answered_code = answered.kopf.message_type.code
    if code not in answers_to(answered_code):
        fitting = ", ".join(answers_to(answered_code)) or "nothing"
        raise AnswerError(f"a {code} does not answer a {answered_code}; a {answered_code} is answered by {fitting}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if code == "0503":
        return _hand_over(answered, out_dir, registry)
    try:
        built = build_receipt(answered, code, receipt_requested=code in ASKS_FOR_RECEIPT, registry=registry)
    except BuildError as exc:
        raise AnswerError(f"cannot build the {code}: {exc}") from None
    target = out_dir / f"{built.stem}.xml"
    target.write_bytes(built.to_bytes())
    return target


def _hand_over(answered: Message, out_dir: Path, registry: SchemaRegistry) -> Path:
    """The 0503 package of the district, under the ProzessID of its 0501 or of the archive's 0502."""
    kopf = answered.kopf
    district, archive = (
        (kopf.sender, kopf.recipient) if kopf.message_type.code == "0501" else (kopf.recipient, kopf.sender)
    )
    seed = int.from_bytes(hashlib.sha256(kopf.process_id.encode("utf-8")).digest()[:4], "big")
    generated = generate_message(
        answered.version, "0503", documents=HAND_OVER_DOCUMENTS, size=HAND_OVER_BYTES, seed=seed
    )
    message = dataclasses.replace(
        generated.message,
        kopf=dataclasses.replace(
            generated.message.kopf, process_id=kopf.process_id, sender=district, recipient=archive
        ),
    )
    try:
        return write_package(message, out_dir, generated.files, registry=registry).path
    except BuildError as exc:
        raise AnswerError(f"cannot build the 0503: {exc}") from None
