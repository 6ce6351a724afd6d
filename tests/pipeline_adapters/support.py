"""Helpers for the adapter pipeline tests: transfer directories, packages, and running the gateway."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.dms import adapter_spec
from gateway.pipeline.dms_export import export_round
from gateway.pipeline.processes import load_thread
from gateway.pipeline.worker import Worker
from gateway.samples.generate import Generated, generate_message
from gateway.store.models import DeliveryObject, Message, Participant
from gateway.xoev.build import write_package
from gateway.xoev.limits import Limits
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml


@dataclass(frozen=True, slots=True)
class Dms:
    """A DMS's transfer directory: it drops into ``out/`` and imports from ``in/``."""

    root: Path

    def config(self, **more: Any) -> dict[str, Any]:
        return {"kind": "hotfolder", "path": str(self.root), "poll_interval": 0, **more}

    def drop(self, package: Path) -> Path:
        """Put a file into the outbox the way a DMS should: complete, then renamed into place."""
        out = self.root / "out"
        out.mkdir(exist_ok=True)
        staging = self.root / ".staging"
        staging.mkdir(exist_ok=True)
        copy = staging / package.name
        shutil.copyfile(package, copy)
        return copy.rename(out / package.name)

    def inbox(self) -> list[str]:
        folder = self.root / "in"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def listing(self, sub: str) -> list[str]:
        folder = self.root / sub
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def set_adapter(ctx: PipelineContext, participant: str, config: dict[str, Any]) -> None:
    with ctx.session() as session:
        row = session.exec(select(Participant).where(col(Participant.xoev_id) == participant)).one()
        row.adapter_config = config
        session.add(row)
        session.commit()


def package(
    out_dir: Path,
    ctx: PipelineContext,
    *,
    seed: int,
    documents: int = 3,
    version: str = "3.0.0",
    message_type: str = "0503",
) -> tuple[Generated, Path]:
    """A generated package (by default a 0503 Aussonderung) from Gotha to the archive."""
    generated = generate_message(version, message_type, documents=documents, size=3000, seed=seed)
    built = write_package(generated.message, out_dir, generated.files, registry=ctx.registry)
    return generated, built.path


def package_with(generated: Generated, out_dir: Path, ctx: PipelineContext) -> Path:
    """The package of an already generated (and perhaps altered) message."""
    return write_package(generated.message, out_dir, generated.files, registry=ctx.registry).path


def export_twice(ctx: PipelineContext, participant: str) -> list[Any]:
    """Two export rounds: a hotfolder offers a file only once it was unchanged across two polls."""
    with ctx.session() as session:
        row = session.exec(select(Participant).where(col(Participant.xoev_id) == participant)).one()
        spec = adapter_spec(participant, row.adapter_config)
    assert spec is not None
    return [export_round(ctx, spec) for _ in range(2)]


def drain(ctx: PipelineContext, name: str = "w") -> int:
    return Worker(ctx, name).drain()


def messages(ctx: PipelineContext, process_id: str) -> list[Message]:
    with ctx.session() as session:
        rows = session.exec(
            select(Message).where(col(Message.process_id) == process_id).order_by(col(Message.created_at))
        ).all()
        return list(rows)


def one(ctx: PipelineContext, process_id: str, message_type: str, direction: str) -> Message:
    found = [m for m in messages(ctx, process_id) if m.message_type == message_type and m.direction.value == direction]
    assert len(found) == 1, [(m.message_type, m.direction, m.state) for m in messages(ctx, process_id)]
    return found[0]


def objects_of(ctx: PipelineContext, message_id: uuid.UUID) -> list[DeliveryObject]:
    with ctx.session() as session:
        return list(
            session.exec(
                select(DeliveryObject)
                .where(col(DeliveryObject.message_id) == message_id)
                .order_by(col(DeliveryObject.id))
            ).all()
        )


def thread_json(ctx: PipelineContext, process_id: str) -> dict[str, Any]:
    with ctx.session() as session:
        return load_thread(session, process_id, ctx.settings).to_json()


def read_message(path: Path) -> XdomeaMessage:
    """A delivered XML message (signed or not) as the model."""
    return parse_message(parse_xml(path.read_bytes(), Limits()))
