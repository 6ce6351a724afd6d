"""One export round: offer every ready file to the gateway, then acknowledge its verdict.

The gateway side is a plain callable, so this layer never imports the pipeline. Wiring it to intake is::

    def take(file: ExportedFile) -> Acknowledgement:
        try:
            with file.open() as source:
                result = submit(ctx, source, sender=participant, filename=file.name, channel="adapter")
        except Rejected as exc:          # invalid, forged, unknown recipient, too large, conflict
            return Acknowledgement.refused(str(exc))
        return Acknowledgement.taken(str(result.message.id), duplicate=not result.created)

    export_once(adapter, take)

Any other exception from ``take`` (the database is down) ends the round with the file still in the
outbox: it is offered again next round, and intake's de-duplication makes that harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.base import Acknowledgement, DmsAdapter, ExportedFile

Take = Callable[[ExportedFile], Acknowledgement]


@dataclass(slots=True)
class Round:
    taken: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def export_once(adapter: DmsAdapter, take: Take) -> Round:
    done = Round()
    for file in adapter.export():
        ack = take(file)
        adapter.acknowledge(file, ack)
        if not ack.accepted:
            done.refused.append((file.name, ack.reason))
        elif ack.duplicate:
            done.duplicates.append(file.name)
        else:
            done.taken.append(file.name)
    return done
