"""What the gateway learned about a message's payload, carried along so no later step has to learn it again.

Intake and the check step parse the message, verify its signature and validate it; the verdict goes into
the message's row (report, signature status, signer) and the parsed view into a :class:`Known`, which the
steps of the same chain use (the import confirmation reads the model, the DMS copy is the tree without
its signature). A :class:`Known` is tied to one payload: a step that writes a new payload (signing) drops
it, and a worker that takes over a message after a crash derives it once, from the stored payload.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.xoev.model import Message as XdomeaMessage


@dataclass(frozen=True, slots=True)
class Known:
    """The parsed message of payload ``payload_ref``: its XML without signature and its model."""

    payload_ref: str
    tree: etree._ElementTree
    model: XdomeaMessage

    def of(self, payload_ref: str) -> Known | None:
        """Itself if it describes ``payload_ref``, else None (the payload was replaced since)."""
        return self if self.payload_ref == payload_ref else None
