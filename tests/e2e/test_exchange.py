"""Two gateways, an Aussonderung end to end over XTA 2 with mutual TLS.

Gateway A hosts the Landkreis Altenburger Land, gateway B the Landesarchiv Thüringen; each knows the
other's participant as routed over XTA to the other's URL. The district submits at A through REST, the
archive works at B through its XTA MsgBox (fetch, close) and answers through REST; the Empfangs-
bestaetigungen 0504/0505/0507 are made by the receiving gateway itself. A's process view must end
showing every step done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.models import Direction
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.e2e.exchange import answer, delivery, fetch, package_xml, wait_arrived
from tests.e2e.support import ARCHIVE, DISTRICT, Pair, make_pair, model_of, offer, submit

STEPS = ["0501", "0504", "0502", "0505", "0503", "0507", "0506"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    made = make_pair(tmp_path_factory.mktemp("exchange"))
    made.start()
    try:
        yield made
    finally:
        made.stop()


def test_aussonderung_end_to_end(pair: Pair, registry: SchemaRegistry, tmp_path: Path) -> None:
    a, b = pair.a, pair.b
    district, archive = pair.tokens["district"], pair.tokens["archive"]
    box = b.xta(pair.archive_client)

    # 0501: the district offers its records at A; A signs it and sends it over XTA to B
    model, name, data = offer(seed=4101)
    pid = model.kopf.process_id
    submit(a, district, name, data)
    offered = wait_arrived(b, "0501", pid, "delivered", "confirmed")
    assert offered.sender_id == DISTRICT
    assert offered.channel == "xta"
    assert offered.signature_status == "verified"  # with A's signing certificate pinned at B
    assert offered.signer_fingerprint is not None
    # the archive fetches it from its MsgBox at B: byte for byte what A signed and sent
    _, fetched = fetch(box, "0501", pid)
    sent = a.messages(process_id=pid, message_type="0501", direction=Direction.OUTBOUND)[0]
    assert fetched == a.payload(sent.payload_ref)
    assert b"Signature" in fetched
    # B answered with the 0504 Empfangsbestaetigung, which A verified and delivered to the district
    receipt = wait_arrived(a, "0504", pid, "delivered", "confirmed")
    assert receipt.signature_status == "verified"
    assert receipt.sender_id == ARCHIVE

    # 0502: the archive appraises (its own work) and answers through B's REST API; A makes the 0505
    name, data = answer(fetched, "0502", registry, receipt_requested=True)
    submit(b, archive, name, data)
    wait_arrived(a, "0502", pid, "delivered", "confirmed")
    fetch(box, "0505", pid)

    # 0503: the district hands the records over as a package; B makes the 0507
    name, data = delivery(tmp_path, model, 4102, registry)
    submit(a, district, name, data)
    wait_arrived(b, "0503", pid, "delivered", "confirmed")
    _, package = fetch(box, "0503", pid)
    assert package == data  # packages travel unchanged (they carry no signature)
    wait_arrived(a, "0507", pid, "delivered", "confirmed")

    # 0506: the archive confirms the import; it closes the process at A
    name, data = answer(package_xml(package), "0506", registry)
    submit(b, archive, name, data)
    confirmation = wait_arrived(a, "0506", pid, "delivered", "confirmed")
    assert model_of(a.payload(confirmation.payload_ref)).kopf.process_id == pid

    with a.http(district) as client:
        process = client.get(f"/api/v1/processes/{pid}")
    assert process.status_code == 200, process.text
    body = process.json()
    assert [m["message_type"] for m in body["messages"]] == STEPS, body
    thread = body["thread"]
    assert thread["complete"] is True, thread
    assert thread["waiting_for"] == []
    assert thread["current_step"] == "0506"
    # every outbound message of the district was answered; nothing failed on either side
    outbound = {m.message_type: m.state.value for m in a.messages(process_id=pid, direction=Direction.OUTBOUND)}
    assert outbound == {"0501": "acknowledged", "0503": "acknowledged", "0505": "sent"}, outbound
    for node in (a, b):
        assert not [m for m in node.messages() if m.state.value in ("failed", "dead_lettered")]
    # each message exists once on each side: no duplicates from retries
    for node in (a, b):
        codes = [m.message_type for m in node.messages(process_id=pid, direction=Direction.INBOUND)]
        assert len(codes) == len(set(codes)), codes
