"""The views of a claimed message's payload that steps need: under its file name, for a DMS, parsed.

Each view is made once per job: the parsed message comes from :attr:`Job.known` when an earlier step of
the chain (the check) already parsed it, and is derived here, once, otherwise.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from gateway.pipeline.checks import ContentKind, SignatureStatus
from gateway.pipeline.intake import package_name
from gateway.pipeline.known import Known
from gateway.pipeline.steps.job import Job, Permanent
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from gateway.xoev.signatures.signature import strip_signature
from gateway.xoev.validation.validate import ZIP_MAGIC

#: signature states of a payload that carries an enveloped signature
SIGNED_STATES = frozenset({SignatureStatus.SIGNED.value, SignatureStatus.VERIFIED.value})


@contextlib.contextmanager
def named_copy(job: Job) -> Iterator[Path]:
    """The payload under its file name (package checks read it), as a hard link: no bytes are copied."""
    m = job.message
    source = job.ctx.payloads.path_of(m.payload_ref)
    name = payload_name(job) or "message.xml"
    folder = Path(tempfile.mkdtemp(prefix="view-", dir=job.ctx.payloads.root / "tmp"))
    target = folder / name
    try:
        os.link(source, target)
        yield target
    finally:
        target.unlink(missing_ok=True)
        folder.rmdir()


def payload_name(job: Job) -> str | None:
    """The message's file name; a package submitted without one is named after its message XML, as
    intake named it for its checks (the package rules, here and in a DMS adapter, read the name)."""
    m = job.message
    if m.filename or m.content_kind != ContentKind.ZIP.value:
        return m.filename
    source = job.ctx.payloads.path_of(m.payload_ref)
    return package_name(source, job.ctx.settings.limits.max_package_entries) or "message.zip"


def known(job: Job) -> Known:
    """The parsed message without its signature: from the chain's check, or read once from the payload."""
    m = job.message
    if job.known is not None and job.known.of(m.payload_ref) is not None:
        return job.known
    if m.content_kind == ContentKind.ZIP.value:
        with named_copy(job) as path:
            result = job.ctx.validator.validate_path(path)
        if result.tree is None:
            raise Permanent("the package's message XML cannot be read")
        tree = result.tree
    else:
        with job.ctx.payloads.open(m.payload_ref) as fh:
            data = fh.read()
        if data.startswith(ZIP_MAGIC):
            raise Permanent("the payload is a package, but the message says XML")
        tree = strip_signature(parse_xml(data, job.ctx.settings.limits), in_place=True)
    job.known = Known(m.payload_ref, tree, parse_message(tree))
    return job.known


@contextlib.contextmanager
def dms_payload(job: Job) -> Iterator[Path]:
    """What a DMS receives: the payload, but an XML message without the enveloped signature.

    The signature protected the transport and was verified by the check step; left in, it makes the
    message invalid against the xdomea schema the DMS (and the adapter) validate with. The copy is the
    same bytes on every try, so an adapter's ledger recognises a redelivery.
    """
    m = job.message
    path = job.ctx.payloads.path_of(m.payload_ref)
    if m.content_kind == ContentKind.ZIP.value or m.signature_status not in SIGNED_STATES:
        yield path
        return
    data = etree.tostring(known(job).tree, xml_declaration=True, encoding="UTF-8")
    with tempfile.NamedTemporaryFile(dir=job.ctx.payloads.root / "tmp", prefix="dms-", suffix=".xml") as fh:
        fh.write(data)
        fh.flush()
        yield Path(fh.name)
