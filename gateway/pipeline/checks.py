"""Verify and validate one stored or staged message file: the checks intake and the inbound steps share.

Order: read safely, verify the signature (against the claimed Absender's pinned certificates and
policy), then validate the message *without* its signature (the xdomea schemas do not allow one, see
docs/signatures.md). For a ZIP package the whole package is validated from its file; packages carry no
signature in this version (the signature profile covers the message XML only), so they count as unsigned.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.parsing.parse import NotXdomea, parse_message
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml
from gateway.xoev.report import Location, Report, finding
from gateway.xoev.signatures.signature import find_signatures
from gateway.xoev.signatures.verifying import SignaturePolicy, TrustDirectory, VerificationStatus, verify_tree
from gateway.xoev.validation.validate import ZIP_MAGIC, Validator


class ContentKind(enum.StrEnum):
    XML = "xml"
    ZIP = "zip"


class SignatureStatus(enum.StrEnum):
    """``Message.signature_status``: what the gateway knows about the message's signature."""

    UNSIGNED = "unsigned"  # no signature (accepted by the sender's policy, or to be signed by us)
    VERIFIED = "verified"  # a valid signature of the Absender, checked against its pinned certificates
    SIGNED = "signed"  # signed by this gateway with the sending authority's key
    REFUSED = "refused"  # the signature check failed (the report names the reason)


class SignatureMode(enum.Enum):
    """How strictly to treat a message's signature."""

    IF_PRESENT = "if_present"  # outbound intake: the gateway signs later; a signature present must verify
    POLICY = "policy"  # inbound: the Absender's policy decides (require / accept / reject)


@dataclass(slots=True)
class Checked:
    kind: ContentKind
    report: Report
    model: XdomeaMessage | None = None
    signature: SignatureStatus = SignatureStatus.UNSIGNED
    signer_fingerprint: str | None = None
    #: the message XML that was validated (without its signature; a package's message XML), for later steps
    tree: etree._ElementTree | None = None

    @property
    def valid(self) -> bool:
        return self.report.valid and self.model is not None and self.signature is not SignatureStatus.REFUSED


def content_kind(path: Path) -> ContentKind:
    with path.open("rb") as fh:
        head = fh.read(4)
    return ContentKind.ZIP if head.startswith(ZIP_MAGIC) else ContentKind.XML


def check_file(
    validator: Validator,
    path: Path,
    *,
    name: str | None,
    directory: TrustDirectory,
    mode: SignatureMode,
    sender: str | None = None,
    tree: etree._ElementTree | None = None,
) -> Checked:
    """Verify and validate the message in ``path``; ``name`` is its file name for the naming rule.

    ``sender`` is the participant the channel identified: a signature (or its absence) is judged by its
    policy when the Absender names no Behoerdenkennung of its own. ``tree`` is the message XML in
    ``path`` already parsed, by a caller that built it (a receipt made by this gateway): it is checked
    as it is instead of being parsed again.
    """
    kind = content_kind(path)
    if kind is ContentKind.ZIP:
        return _check_package(validator, path, name=name, directory=directory, mode=mode, sender=sender)
    shown = name or "-"
    report = Report(path=shown)
    size = path.stat().st_size
    if size > validator.limits.max_xml_bytes:
        report.add(finding("XGW-IN-003", Location(file=shown), size=size, limit=validator.limits.max_xml_bytes))
        return Checked(kind, report)
    owned = tree is None  # a tree parsed here may lose its signature in place; a caller's is copied
    if tree is None:
        data = path.read_bytes()
        try:
            tree = parse_xml(data, validator.limits, source=shown)
        except XmlRejected as rejected:
            report.add(rejected.finding)
            return Checked(kind, report)
    model = _model(tree)
    checked = Checked(kind, report, model)
    if find_signatures(tree.getroot()) or mode is SignatureMode.POLICY:
        claimed = model.kopf.sender.xoev_identifier if model and model.kopf.sender else None
        verification = verify_tree(tree, claimed or sender or "?", directory, source=shown, in_place=owned)
        if not verification.ok:
            if verification.finding is not None:
                report.add(verification.finding)
            checked.signature = SignatureStatus.REFUSED
            return checked
        if verification.status is VerificationStatus.VERIFIED:
            checked.signature = SignatureStatus.VERIFIED
            checked.signer_fingerprint = verification.signer.fingerprint_sha256 if verification.signer else None
            if verification.tree is not None:
                tree = verification.tree
    validator.validate_tree(tree, report, source=shown, name=name)
    checked.tree = tree
    return checked


def _check_package(
    validator: Validator,
    path: Path,
    *,
    name: str | None,
    directory: TrustDirectory,
    mode: SignatureMode,
    sender: str | None,
) -> Checked:
    result = validator.validate_path(path)
    report = result.report
    report.path = name or path.name
    checked = Checked(ContentKind.ZIP, report, _model(result.tree) if result.tree is not None else None)
    checked.tree = result.tree
    if mode is SignatureMode.POLICY and checked.model is not None:
        claimed = checked.model.kopf.sender.xoev_identifier if checked.model.kopf.sender else None
        who = claimed or sender
        trusted = directory.get(who) if who else None
        if trusted is None or trusted.policy is SignaturePolicy.REQUIRE:
            report.add(finding("XGW-SIG-001", Location(file=report.path), participant=who or "?"))
            checked.signature = SignatureStatus.REFUSED
    return checked


def note_channel_sender(checked: Checked, sender: str, channel: str) -> None:
    """Say in the report that the Absender names no Behoerdenkennung and the channel named ``sender``."""
    model = checked.model
    if model is not None and (model.kopf.sender is None or model.kopf.sender.xoev_identifier is None):
        checked.report.add(
            finding("XGW-HDR-007", Location(file=checked.report.path), participant=sender, channel=channel)
        )


#: how the report names what identified an Empfaenger without Behoerdenkennung (English, German)
RECIPIENT_SOURCES = {
    "channel": ("the transport order (XTA Reader or the submitter's recipient parameter)", "den Transportauftrag"),
    "process": ("the process (the participant it answers in this ProzessID)", "den Prozess (ProzessID)"),
    "answered": ("the message it answers", "die beantwortete Nachricht"),
    "intake": ("the gateway when it took the message in", "das Gateway bei der Annahme der Nachricht"),
}


def note_named_recipient(checked: Checked, recipient: str, source: str) -> None:
    """Say in the report that the Empfaenger names no Behoerdenkennung and ``source`` named ``recipient``."""
    model = checked.model
    if model is not None and model.kopf.recipient is not None and model.kopf.recipient.xoev_identifier:
        return
    english, german = RECIPIENT_SOURCES[source]
    checked.report.add(
        finding(
            "XGW-HDR-008",
            Location(file=checked.report.path),
            participant=recipient,
            source=english,
            source_de=german,
        )
    )


def _model(tree: etree._ElementTree) -> XdomeaMessage | None:
    try:
        return parse_message(tree)
    except NotXdomea:
        return None
