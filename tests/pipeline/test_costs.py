"""What one message costs on its way through one gateway, counted, so that "checked once, written little" holds.

The whole exchange of one signed 0501 offer on one gateway: intake, then the workers (sign, route, send to
the archive's mailbox; the copy checked, delivered, its Empfangsbestaetigung built, taken in, signed, sent,
and its copy checked and delivered back). Counted with wrappers around ``lxml.etree.fromstring`` (every
parse of message bytes; any signxml would make are counted apart: none since issue 11), the
validator's content check (every schema validation), the package scanner, and a SQLAlchemy listener on
the engine (statements by kind, commits). Before issue 11 the same exchange took (this test, SQLite) 29
commits, 27 UPDATEs, 40 SELECTs, 7 parses by the gateway, the receipt validated three times and a package
scanned three times; then 14 commits, 20 UPDATEs, 21 SELECTs, 26 INSERTs (intake and workers together);
now 14 commits, 12 UPDATEs, 13 SELECTs (the workers' 8, intake's 5), 16 INSERTs, 5 parses, the receipt
validated twice (once per hop) and a package scanned twice (intake, and the recipient's check). The
directory cache's expiry is frozen while counting, so that a slow machine does not turn cached look-ups
into queries. The bounds are what the pipeline does now; a change that parses, validates or writes more
fails here and must say why.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree

import adapters.inbound
import gateway.xoev.validation.package_validate as package_validate
from gateway.pipeline import directory
from gateway.pipeline.context import PipelineContext
from gateway.pipeline.rollups import WorkerRollups
from gateway.pipeline.worker import Worker
from gateway.store.models import MessageState
from gateway.xoev.validation.validate import Validator
from tests.pipeline import factories


class Costs:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __getitem__(self, key: str) -> int:
        return self.counts[key]


@contextmanager
def counted(ctx: PipelineContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[Costs]:
    costs = Costs()
    parse = etree.fromstring
    validate = Validator._validate_content
    scan = package_validate.scan_package

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        caller = str(sys._getframe(1).f_globals.get("__name__", ""))
        costs.counts["parse in signxml" if caller.startswith("signxml") else "parse"] += 1
        return parse(*args, **kwargs)

    def counting_validate(self: Validator, tree: Any, report: Any, *, source: str | None) -> Any:
        root = tree.getroot()
        costs.counts[f"validate {etree.QName(root).localname}"] += 1
        return validate(self, tree, report, source=source)

    def counting_scan(*args: Any, **kwargs: Any) -> Any:
        costs.counts["package scan"] += 1
        return scan(*args, **kwargs)

    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        verb = text.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE", "SELECT"):
            costs.counts[verb] += 1

    def commit(_conn: Any) -> None:
        costs.counts["COMMIT"] += 1

    monkeypatch.setattr(directory, "CACHE_SECONDS", 3600.0)  # counted look-ups must not expire mid-test
    monkeypatch.setattr(etree, "fromstring", counting_parse)
    monkeypatch.setattr(Validator, "_validate_content", counting_validate)
    monkeypatch.setattr(package_validate, "scan_package", counting_scan)
    monkeypatch.setattr(adapters.inbound, "scan_package", counting_scan)
    sa.event.listen(ctx.engine, "before_cursor_execute", statement)
    sa.event.listen(ctx.engine, "commit", commit)
    try:
        yield costs
    finally:
        sa.event.remove(ctx.engine, "before_cursor_execute", statement)
        sa.event.remove(ctx.engine, "commit", commit)
        monkeypatch.undo()


def states(ctx: PipelineContext) -> list[tuple[str, str, MessageState]]:
    with ctx.session() as session:
        rows = session.exec(sa.text("SELECT direction, message_type, state FROM message")).all()  # type: ignore[call-overload]
    return sorted((str(d), str(t), MessageState(s)) for d, t, s in rows)


def test_one_offer_is_parsed_and_validated_once_per_hop_and_written_in_few_commits(
    ctx: PipelineContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, data = factories.offer(seed=3)
    with counted(ctx, monkeypatch) as intake:
        factories.submit_bytes(ctx, data, filename=name)
    # the dashboard's rollup step is periodic housekeeping of the worker loop (one per 5 s, however many
    # messages), not a cost of this message; its own correctness and cost are in test_rollups.py
    monkeypatch.setattr(WorkerRollups, "run_due", lambda self: None)
    with counted(ctx, monkeypatch) as workers:
        Worker(ctx, "costs").run(once=True)
    print("intake", dict(intake.counts), "workers", dict(workers.counts))
    assert [s for _, _, s in states(ctx)] == [
        MessageState.CONFIRMED,  # the archive's copy of the offer, answered
        MessageState.DELIVERED,  # the receipt's copy, back at Gotha
        MessageState.ACKNOWLEDGED,  # the offer, acknowledged by the receipt
        MessageState.SENT,  # the receipt
    ]

    # intake: one parse, one validation, one commit (the row and its first events together)
    assert intake["parse"] == 1
    assert sum(v for k, v in intake.counts.items() if k.startswith("validate")) == 1
    assert intake["COMMIT"] == 1
    assert intake["INSERT"] <= 2 and intake["UPDATE"] == 0  # the row, and its two first events in one statement

    # the workers: each hop (the archive's mailbox copy, the receipt's way back) validates once; the
    # receipt the gateway built is validated once, by its intake, and not parsed there
    validations = {k: v for k, v in workers.counts.items() if k.startswith("validate")}
    assert validations == {
        "validate Aussonderung.Anbieteverzeichnis.0501": 1,  # the archive's copy (before: 2)
        "validate Aussonderung.AnbietungEmpfangBestaetigen.0504": 2,  # the receipt's intake and its copy (before: 3)
    }
    assert workers["package scan"] == 0
    # each payload parsed once per step that reads it: signing the offer and the receipt, the two copies' checks
    assert workers["parse"] <= 4, workers.counts
    # signing and verifying canonicalise in place (gateway/xoev/signatures/xmldsig.py): signxml, which
    # re-parsed its own canonical forms 28 times here, is no longer called (issue 11)
    assert workers["parse in signxml"] == 0, workers.counts
    # four messages, each claimed (one UPDATE each, plus the empty claim that ends the run) and moved in
    # grouped transitions: one commit per claim and per chain that ends, instead of one per transition (28
    # before); the transitions a commit writes are one fenced UPDATE and one INSERT of their history rows
    # (20 UPDATEs and 23 INSERTs when each transition was written on its own)
    assert workers["COMMIT"] <= 13, workers.counts
    assert workers["UPDATE"] <= 12, workers.counts
    assert workers["INSERT"] <= 14, workers.counts
    # the directory is read from its cache: what is left is the mailbox's and the receipts' look-ups of other
    # messages and the worker's start (housekeeping, DMS exports); 16 when pending history rows bypassed it
    assert workers["SELECT"] <= 8, workers.counts


def test_a_package_is_scanned_once_at_intake_and_once_by_the_recipients_check(
    ctx: PipelineContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, data = factories.offer(seed=4)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    package = buffer.getvalue()
    with counted(ctx, monkeypatch) as intake:
        factories.submit_bytes(ctx, package, filename=name.removesuffix(".xml") + ".zip")
    # the dashboard's rollup step is periodic housekeeping of the worker loop (one per 5 s, however many
    # messages), not a cost of this message; its own correctness and cost are in test_rollups.py
    monkeypatch.setattr(WorkerRollups, "run_due", lambda self: None)
    with counted(ctx, monkeypatch) as workers:
        Worker(ctx, "costs").run(once=True)
    print("intake", dict(intake.counts), "workers", dict(workers.counts))
    assert intake["package scan"] == 1
    assert workers["package scan"] == 1  # the copy's check; delivery and the receipt use what it learned
