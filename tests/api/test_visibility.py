"""Issue 10, item 6: a recipient sees a message only once it was handed over, never the sender's internals.

District Gotha submits to the archive and withdraws at once, or its message fails before it leaves: the
archive must not be able to read the message, its payload, its process or Gotha's history (token labels,
errors). Once sent, the archive sees it, still without Gotha's events and errors. The same rule narrows a
participant admin's console queries (one function, :mod:`gateway.pipeline.visibility`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, select

from gateway.console.access import visible_message as console_visible_message
from gateway.console.users import ConsoleAccount
from gateway.participants.tokens import Scope
from gateway.pipeline.lifecycle import transition
from gateway.store.models import ConsoleRole, Message, MessageState
from tests.api.support import ARCHIVE, GOTHA, OPERATOR, Gateway, assert_problem, offer


def _submit(gateway: Gateway, seed: int) -> dict[str, Any]:
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
        name, data = offer(seed)
        response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _move(gateway: Gateway, message_id: str, *path: MessageState, error: str | None = None) -> None:
    with Session(gateway.ctx.engine, expire_on_commit=False) as session:
        message = session.exec(select(Message).where(Message.id == uuid.UUID(message_id))).one()
        for state in path:
            transition(session, message, state, "worker-7", f"test moves it to {state.value}", error=error)


def _assert_hidden_from_archive(gateway: Gateway, message: dict[str, Any]) -> None:
    with gateway.client(gateway.token(ARCHIVE, Scope.READ)) as archive:
        for suffix in ("", "/payload", "/dms-objects"):
            assert_problem(archive.get(f"/api/v1/messages/{message['id']}{suffix}"), 404, "not-found")
        assert_problem(archive.get(f"/api/v1/processes/{message['process_id']}"), 404, "not-found")
        listed = archive.get("/api/v1/messages", params={"limit": 200}).json()["items"]
        assert message["id"] not in {m["id"] for m in listed}
        filtered = archive.get("/api/v1/messages", params={"process": message["process_id"]}).json()
        assert filtered["items"] == []


def test_a_message_withdrawn_at_once_is_never_seen_by_its_recipient(gateway: Gateway) -> None:
    message = _submit(gateway, 700)
    _assert_hidden_from_archive(gateway, message)  # validated: not yet left
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
        assert client.post(f"/api/v1/messages/{message['id']}/cancel").status_code == 200
    _assert_hidden_from_archive(gateway, message)
    with gateway.client(gateway.token(ARCHIVE, Scope.SUBMIT, Scope.READ)) as archive:
        # not even the cancel route tells the archive that the id exists
        assert_problem(archive.post(f"/api/v1/messages/{message['id']}/cancel"), 404, "not-found")


def test_a_message_that_failed_before_leaving_is_never_seen_by_its_recipient(gateway: Gateway) -> None:
    message = _submit(gateway, 701)
    _move(gateway, message["id"], MessageState.QUEUED, MessageState.FAILED, error="peer refused: internal detail")
    _assert_hidden_from_archive(gateway, message)
    with gateway.client(gateway.token(GOTHA, Scope.READ)) as client:
        own = client.get(f"/api/v1/messages/{message['id']}").json()
    assert own["state"] == "failed"
    assert own["error"] == "peer refused: internal detail"


def test_a_sent_message_is_seen_without_the_senders_history(gateway: Gateway) -> None:
    message = _submit(gateway, 702)
    _move(gateway, message["id"], MessageState.QUEUED, error="first attempt: connection reset")
    _move(gateway, message["id"], MessageState.SENT)
    with Session(gateway.ctx.engine) as session:  # a stale error the owner may still read
        row = session.get(Message, uuid.UUID(message["id"]))
        assert row is not None
        row.error = "first attempt: connection reset"
        session.add(row)
        session.commit()
    with gateway.client(gateway.token(ARCHIVE, Scope.READ)) as archive:
        detail = archive.get(f"/api/v1/messages/{message['id']}")
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["state"] == "sent"
        assert body["events"] == []
        assert body["error"] is None
        assert "token:" not in detail.text and "worker-7" not in detail.text
        assert archive.get(f"/api/v1/messages/{message['id']}/payload").status_code == 200
        listed = archive.get("/api/v1/messages", params={"process": message["process_id"]}).json()["items"]
        assert [m["id"] for m in listed] == [message["id"]]
        assert listed[0]["error"] is None
        process = archive.get(f"/api/v1/processes/{message['process_id']}").json()
        assert [m["error"] for m in process["messages"]] == [None]
    with gateway.client(gateway.token(GOTHA, Scope.READ)) as client:
        own = client.get(f"/api/v1/messages/{message['id']}").json()
    assert own["error"] == "first attempt: connection reset"
    assert [e["to_state"] for e in own["events"]][-2:] == ["queued", "sent"]
    assert own["events"][0]["actor"].startswith("token:")
    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as operator:
        assert len(operator.get(f"/api/v1/messages/{message['id']}").json()["events"]) == len(own["events"])


def test_the_console_narrows_a_participant_admin_by_the_same_rule(gateway: Gateway) -> None:
    pending = _submit(gateway, 703)
    sent = _submit(gateway, 704)
    _move(gateway, sent["id"], MessageState.QUEUED, MessageState.SENT)
    archive_admin = ConsoleAccount(id=1, name="archivist", role=ConsoleRole.PARTICIPANT_ADMIN, participant=ARCHIVE)
    gotha_admin = ConsoleAccount(id=2, name="gotha", role=ConsoleRole.PARTICIPANT_ADMIN, participant=GOTHA)
    with Session(gateway.ctx.engine) as session:
        assert console_visible_message(session, archive_admin, uuid.UUID(pending["id"])) is None
        assert console_visible_message(session, archive_admin, uuid.UUID(sent["id"])) is not None
        assert console_visible_message(session, gotha_admin, uuid.UUID(pending["id"])) is not None
