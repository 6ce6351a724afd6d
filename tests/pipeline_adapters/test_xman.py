"""A whole Aussonderung between a district's DMS and x-man (simulated), through the gateway.

Gotha's DMS uses a plain hotfolder; the archive's entry has ``preset = "xman"`` on a root holding one
transfer directory per district. :class:`~tests.adapters.xman_sim.XmanSim` plays x-man from the facts in
docs/adapters.md: every message the gateway writes must be read by it, every answer it writes must reach
Gotha, and nothing may be fabricated by the gateway, refused, or dead-lettered on the way.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from sqlmodel import col, select

from gateway.config import Settings
from gateway.pipeline.context import PipelineContext
from gateway.samples.generate import generate_message
from gateway.store.models import DeliveryObject, Message, MessageState
from gateway.xoev.build import build, build_receipt, serialize, write_package
from gateway.xoev.limits import Limits
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml
from tests.adapters.xman_sim import Agency, XmanSim
from tests.pipeline.factories import ARCHIVE_ID, GOTHA
from tests.pipeline_adapters.support import Dms, drain, export_twice, messages, read_message, set_adapter, thread_json

VERSION = "3.1.0"


@pytest.fixture
def pipeline_settings(pipeline_settings: Settings) -> Settings:
    # x-man and the districts' DMS answer for themselves: the gateway makes no receipts here (issue 9.3
    # makes that the default for an x-man archive)
    return pipeline_settings.model_copy(
        update={"pipeline": pipeline_settings.pipeline.model_copy(update={"auto_receipts": False})}
    )


def xman_root(tmp_path: Path) -> tuple[Path, Agency]:
    root = tmp_path / "xman-transfer"
    agency = Agency(GOTHA, root / "gotha")
    for folder in agency.folders.values():
        (agency.root / folder).mkdir(parents=True)  # x-man's connection test wants them to exist
    return root, agency


def xman_config(root: Path) -> dict[str, object]:
    return {
        "kind": "hotfolder",
        "preset": "xman",
        "path": str(root),
        "transfer_dirs": {GOTHA: "gotha"},
        "poll_interval": 0,
    }


def round_trip(ctx: PipelineContext, sim: XmanSim) -> None:
    """Gotha's outbox -> the gateway -> x-man reads and answers -> the gateway -> Gotha's inbox."""
    export_twice(ctx, GOTHA)
    drain(ctx)
    sim.scan()
    export_twice(ctx, ARCHIVE_ID)
    drain(ctx)


def received(gotha: Dms, code: str) -> XdomeaMessage:
    """The one message of type ``code`` in Gotha's inbox (x-man's answers travel as ZIPs of one XML)."""
    found = [n for n in gotha.inbox() if f".{code}." in n or f"_{code}" in n]
    assert len(found) == 1, (code, gotha.inbox())
    path = gotha.root / "in" / found[0]
    if not zipfile.is_zipfile(path):
        return read_message(path)
    with zipfile.ZipFile(path) as archive:
        (inner,) = [n for n in archive.namelist() if n.endswith(".xml")]
        return parse_message(parse_xml(archive.read(inner), Limits()))


@pytest.mark.parametrize(
    "with_kennung",
    [
        pytest.param(True, id="answers-with-kennung"),
        pytest.param(False, id="answers-as-xman-writes-them"),
    ],
)
def test_a_whole_aussonderung_with_xman(
    ctx: PipelineContext, dms: dict[str, Dms], tmp_path: Path, with_kennung: bool
) -> None:
    gotha = dms[GOTHA]
    root, agency = xman_root(tmp_path)
    set_adapter(ctx, ARCHIVE_ID, xman_config(root))
    sim = XmanSim([agency], with_kennung=with_kennung)

    offer = generate_message(VERSION, "0501", documents=2, size=0, seed=91)
    pid = offer.message.kopf.process_id
    built = build(offer.message, registry=ctx.registry)
    made = tmp_path / "made"
    made.mkdir()
    xml = made / f"{built.stem}.xml"
    xml.write_bytes(built.to_bytes())
    gotha.drop(xml)  # a bare XML 0501, as most DMS write it
    round_trip(ctx, sim)

    assert [(r[2], r[3]) for r in sim.read] == [("0501", pid)]
    written = sorted(p.name for p in agency.root.iterdir() if p.is_file())
    assert written == [f"{pid}_Aussonderung.Anbieteverzeichnis.0501.zip"]  # wrapped in a ZIP for x-man
    assert stat.S_IMODE((agency.root / written[0]).stat().st_mode) == 0o640
    assert list((root / ".xgw-staging").iterdir()) == []
    appraisal = received(gotha, "0502")
    assert appraisal.kopf.process_id == pid and received(gotha, "0504").kopf.process_id == pid

    # Gotha's DMS confirms the appraisal and hands the records over
    confirmation = build_receipt(appraisal, "0505", registry=ctx.registry)
    (made / f"{confirmation.stem}.xml").write_bytes(serialize(confirmation.tree))
    gotha.drop(made / f"{confirmation.stem}.xml")
    handover = generate_message(VERSION, "0503", documents=2, size=2000, seed=92)
    handover.message.kopf.process_id = pid
    gotha.drop(write_package(handover.message, made, handover.files, registry=ctx.registry).path)
    round_trip(ctx, sim)

    assert sorted((r[2], r[3]) for r in sim.read) == [("0501", pid), ("0503", pid), ("0505", pid)]
    imported = received(gotha, "0506")
    assert [o.id for o in imported.outcomes] == [o.id for o in handover.message.objects]
    assert received(gotha, "0507").kopf.process_id == pid

    # everything x-man wrote reached Gotha, x-man saw nothing it could misread, and the gateway made nothing up
    assert (sim.unknown, sim.half_read, sim.refused) == ([], [], [])
    in_transfer_dir = sorted(p.name for p in agency.root.iterdir() if p.is_file())
    assert in_transfer_dir == sorted(r[1] for r in sim.read)  # every file the gateway wrote, x-man read
    assert len(sim.written) == 4
    rows = messages(ctx, pid)
    assert not [m for m in rows if m.state in (MessageState.FAILED, MessageState.DEAD_LETTERED)]
    assert {m.message_type for m in rows if m.sender_id == GOTHA} == {"0501", "0505", "0503"}
    from_archive = {m.message_type for m in rows if m.sender_id == ARCHIVE_ID}
    assert from_archive == {"0502", "0504", "0506", "0507"}
    assert sorted(m.message_type for m in rows if m.sender_id == ARCHIVE_ID and m.direction.value == "in") == [
        "0502",
        "0504",
        "0506",
        "0507",
    ]
    with ctx.session() as session:
        outcomes = set(
            session.exec(
                select(DeliveryObject.outcome)
                .join(Message, col(Message.id) == col(DeliveryObject.message_id))
                .where(col(Message.recipient_id) == ARCHIVE_ID, col(Message.process_id) == pid)
            ).all()
        )
    assert outcomes == {"handed-over"}  # never "imported": x-man confirms the import itself
    assert thread_json(ctx, pid)["complete"]

    # x-man's answers stay where x-man put them (x-man deletes them itself) and are not taken twice
    before = len(messages(ctx, pid))
    export_twice(ctx, ARCHIVE_ID)
    drain(ctx)
    assert len(messages(ctx, pid)) == before
    assert all((agency.root / path).exists() for _, path in sim.written)
