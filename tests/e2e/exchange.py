"""The steps of an Aussonderung between the two gateways, as the district and the archive take them."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Any

from gateway.samples.generate import generate_message
from gateway.store.models import Direction, Message
from gateway.transport.xta_client.client import XtaClient
from gateway.xoev.build import build_receipt, write_package
from gateway.xoev.model import Message as XdomeaMessage
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.e2e.support import ARCHIVE, DISTRICT_PARTY, Node, model_of, party, wait_for


def fetch(client: XtaClient, code: str, process_id: str, *, seconds: float = 90) -> tuple[str, bytes]:
    """Wait for the archive's box to list the ``code`` of ``process_id``, fetch it and close it."""

    def listed() -> str | None:
        for item in client.status_list(party(ARCHIVE)).items:
            if item.message_type.code == code:
                return item.message_id
        return None

    message_id = wait_for(f"{code} in the archive's box", listed, seconds=seconds, every=0.3)
    with client.get_message(party(ARCHIVE), message_id) as fetched:
        data = fetched.message.message.path.read_bytes()
        request_id = fetched.message.request_id
    assert model_of(data).kopf.process_id == process_id
    client.close_messages(party(ARCHIVE), [message_id], request_id or None)
    return message_id, data


def delivery(
    folder: Any, offer: XdomeaMessage, seed: int, registry: SchemaRegistry, *, size: int = 8192
) -> tuple[str, bytes]:
    """The district's 0503 Aussonderung package for the offer's process (same ProzessID), file name and bytes."""
    generated = generate_message("3.0.0", "0503", documents=2, size=size, seed=seed)
    kopf = dataclasses.replace(generated.message.kopf, process_id=offer.kopf.process_id, sender=DISTRICT_PARTY)
    message = dataclasses.replace(generated.message, kopf=kopf)
    built = write_package(message, folder, generated.files, registry=registry, compresslevel=1)
    return built.path.name, built.path.read_bytes()


def answer(answering: bytes, code: str, registry: SchemaRegistry, **options: Any) -> tuple[str, bytes]:
    """The archive's own answer (0502, 0506) to fetched content, built with the gateway's builder."""
    built = build_receipt(model_of(answering), code, registry=registry, **options)
    return f"{built.stem}.xml", built.to_bytes()


def package_xml(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        (name,) = [n for n in package.namelist() if "/" not in n and n.endswith(".xml")]
        return package.read(name)


def arrived(node: Node, code: str, process_id: str, *states: str) -> Message | None:
    """The inbound ``code`` of the process at ``node`` once it is in one of ``states``."""
    for m in node.messages(process_id=process_id, message_type=code, direction=Direction.INBOUND):
        if m.state.value in states:
            return m
    return None


def wait_arrived(node: Node, code: str, process_id: str, *states: str, seconds: float = 90) -> Message:
    return wait_for(
        f"{code} at {node.name} in {states}",
        lambda: arrived(node, code, process_id, *states),
        seconds=seconds,
        every=0.2,
        why=node.log_tail,
    )
