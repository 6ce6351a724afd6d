"""Reading messages: detail, filters, cursor pagination, processes, operator actions, and a message
watched through the states by the in-process worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from gateway.participants.tokens import Scope
from gateway.pipeline.lifecycle import transition
from gateway.pipeline.worker import run_in_thread
from gateway.store.models import Message, MessageState
from tests.api.support import ALTENBURG, ALTENBURG_PARTY, ARCHIVE, GOTHA, OPERATOR, Gateway, assert_problem, offer


@pytest.fixture(scope="module")
def submitted(gateway: Gateway) -> list[dict[str, Any]]:
    """Twelve offers from Gotha and three from Altenburg, in this order."""
    out = []
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        for seed in range(400, 412):
            name, data = offer(seed)
            response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
            assert response.status_code == 201
            out.append(response.json())
    with gateway.client(gateway.token(ALTENBURG, Scope.SUBMIT)) as client:
        for seed in range(420, 423):
            name, data = offer(seed, sender=ALTENBURG_PARTY)
            response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
            assert response.status_code == 201
            out.append(response.json())
    return out


def _pages(gateway: Gateway, token: str, **params: Any) -> Iterator[dict[str, Any]]:
    with gateway.client(token) as client:
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/messages", params=query)
            assert page.status_code == 200, page.text
            body = page.json()
            yield body
            cursor = body["next_cursor"]
            if cursor is None:
                return


def test_detail_has_history_report_and_signature(gateway: Gateway, submitted: list[dict[str, Any]]) -> None:
    with gateway.client(gateway.token(GOTHA, Scope.READ)) as client:
        detail = client.get(f"/api/v1/messages/{submitted[0]['id']}").json()
    assert [e["to_state"] for e in detail["events"]][:2] == ["received", "validated"]
    assert detail["validation_report"]["valid"] is True
    assert detail["validation_report"]["process_id"] == detail["process_id"]
    assert detail["signature"] == {"status": "unsigned", "signer_fingerprint": None}
    assert detail["payload_sha256"] == detail["sha256"]
    assert detail["recipient"] == ARCHIVE


def test_pagination_walks_every_message_once_in_a_stable_order(
    gateway: Gateway, submitted: list[dict[str, Any]]
) -> None:
    token = gateway.token(GOTHA, Scope.READ)
    pages = list(_pages(gateway, token, limit=5, participant=GOTHA))
    seen = [m["id"] for page in pages for m in page["items"]]
    gotha = [m["id"] for m in submitted if m["sender"] == GOTHA]
    assert len(seen) == len(set(seen))
    assert set(gotha) <= set(seen)
    assert all(len(page["items"]) <= 5 for page in pages)
    ordered = [(m["created_at"], m["id"]) for page in pages for m in page["items"]]
    assert ordered == sorted(ordered, reverse=True)
    # new messages arriving meanwhile never shift the pages already handed out
    first_page = pages[0]
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        name, data = offer(450)
        assert client.post("/api/v1/messages", content=data, headers={"X-Filename": name}).status_code == 201
    again = list(_pages(gateway, token, limit=5, participant=GOTHA))
    continued = [m["id"] for page in again for m in page["items"]]
    assert continued[1:] == seen
    assert first_page["next_cursor"] is not None


def test_filters(gateway: Gateway, submitted: list[dict[str, Any]]) -> None:
    admin = gateway.token(OPERATOR, Scope.ADMIN)
    one = submitted[3]

    def ids(**params: Any) -> set[str]:
        return {m["id"] for page in _pages(gateway, admin, **params) for m in page["items"]}

    assert ids(process=one["process_id"]) == {one["id"]}
    assert one["id"] in ids(state="validated", direction="out", type="0501")
    assert one["id"] not in ids(state="queued")
    assert one["id"] not in ids(type="0503")
    assert one["id"] not in ids(direction="in")
    altenburg = ids(participant=ALTENBURG)
    assert altenburg == {m["id"] for m in submitted if m["sender"] == ALTENBURG}
    created = datetime.fromisoformat(one["created_at"])
    assert one["id"] in ids(since=created.isoformat(), until=(created + timedelta(microseconds=1)).isoformat())
    assert one["id"] not in ids(since=(created + timedelta(microseconds=1)).isoformat())
    with gateway.client(admin) as client:
        assert_problem(client.get("/api/v1/messages", params={"since": "2026-01-01T00:00:00"}), 422, "invalid-request")
        assert_problem(client.get("/api/v1/messages", params={"state": "bogus"}), 422, "invalid-request")
        assert_problem(client.get("/api/v1/messages", params={"limit": 0}), 422, "invalid-request")
        assert_problem(client.get("/api/v1/messages", params={"cursor": "garbage!"}), 400, "invalid-cursor")
        page = client.get("/api/v1/messages", params={"limit": 2, "type": "0501"}).json()
        other = client.get("/api/v1/messages", params={"cursor": page["next_cursor"], "type": "0503"})
        assert_problem(other, 400, "invalid-cursor")
        capped = client.get("/api/v1/messages", params={"limit": 10_000}).json()
        assert len(capped["items"]) <= gateway.ctx.settings.api.max_page_size


def test_process_thread(gateway: Gateway, submitted: list[dict[str, Any]]) -> None:
    one = submitted[5]
    with gateway.client(gateway.token(GOTHA, Scope.READ)) as client:
        process = client.get(f"/api/v1/processes/{one['process_id']}").json()
    assert [m["id"] for m in process["messages"]] == [one["id"]]
    assert process["thread"]["current_step"] == "0501"
    assert {w["message_type"] for w in process["thread"]["waiting_for"]} >= {"0502"}


def _set_state(gateway: Gateway, message_id: str, *path: MessageState) -> None:
    """Move a message along ``path`` as the workers would (fenced transitions with events)."""
    import uuid

    with Session(gateway.ctx.engine, expire_on_commit=False) as session:
        message = session.exec(select(Message).where(Message.id == uuid.UUID(message_id))).one()
        for state in path:
            transition(session, message, state, "test", f"test moves it to {state.value}", error="boom")


def test_cancel_by_the_sender_only_before_it_left(gateway: Gateway, submitted: list[dict[str, Any]]) -> None:
    target = submitted[6]["id"]
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
        cancelled = client.post(f"/api/v1/messages/{target}/cancel", json={"note": "sent to the wrong archive"})
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert body["state"] == "cancelled"
        assert "sent to the wrong archive" in body["events"][-1]["reason"]
        assert body["events"][-1]["actor"].startswith("token:")
        again = assert_problem(client.post(f"/api/v1/messages/{target}/cancel"), 409, "state-conflict")
        assert again["state"] == "cancelled"
        # operator actions need the admin scope
        assert_problem(client.post(f"/api/v1/messages/{submitted[7]['id']}/retry"), 403, "forbidden")


def test_retry_and_requeue_by_the_operator(gateway: Gateway, submitted: list[dict[str, Any]]) -> None:
    failed, sent = submitted[8]["id"], submitted[9]["id"]
    _set_state(gateway, failed, MessageState.QUEUED, MessageState.FAILED)
    _set_state(gateway, sent, MessageState.QUEUED, MessageState.SENT)
    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as admin:
        retried = admin.post(f"/api/v1/messages/{failed}/retry").json()
        assert retried["state"] == "queued"
        assert retried["attempts"] == 0
        assert retried["error"] is None
        assert_problem(admin.post(f"/api/v1/messages/{failed}/retry"), 409, "state-conflict")
        requeued = admin.post(f"/api/v1/messages/{sent}/requeue").json()
        assert requeued["state"] == "queued"
        assert requeued["events"][-1]["from_state"] == "sent"
        waiting = admin.post(f"/api/v1/messages/{submitted[10]['id']}/requeue").json()
        assert waiting["state"] == "validated"
        assert datetime.fromisoformat(waiting["next_attempt_at"]) <= datetime.now(UTC)


def test_an_action_never_races_a_worker_holding_the_lease(gateway: Gateway, submitted: list[dict[str, Any]]) -> None:
    import uuid

    from sqlmodel import update

    target = submitted[11]["id"]
    with Session(gateway.ctx.engine) as session:
        session.exec(
            update(Message)
            .where(Message.id == uuid.UUID(target))
            .values(lease_owner="worker-x", lease_expires_at=datetime.now(UTC) + timedelta(hours=1))
        )
        session.commit()
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
        problem = assert_problem(client.post(f"/api/v1/messages/{target}/cancel"), 409, "state-conflict")
        assert "worker" in problem["detail"]
        assert client.get(f"/api/v1/messages/{target}").json()["state"] == "validated"


def test_a_message_watched_through_the_states(fresh_gateway: Gateway) -> None:
    """With the in-process worker running, Gotha's offer reaches the archive's mailbox and is acknowledged."""
    gateway = fresh_gateway
    stop = threading.Event()
    worker = threading.Thread(target=run_in_thread, args=(gateway.ctx, stop), daemon=True)
    worker.start()
    try:
        name, data = offer(460)
        with gateway.client(gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
            created = client.post("/api/v1/messages", content=data, headers={"X-Filename": name}).json()
            seen = [created["state"]]
            deadline = time.monotonic() + 60
            while seen[-1] not in ("acknowledged", "failed", "dead_lettered") and time.monotonic() < deadline:
                state = client.get(f"/api/v1/messages/{created['id']}").json()["state"]
                if state != seen[-1]:
                    seen.append(state)
                time.sleep(0.05)
            detail = client.get(f"/api/v1/messages/{created['id']}").json()
            history = [e["to_state"] for e in detail["events"]]
            assert detail["state"] == "acknowledged", history
            assert history[:2] == ["received", "validated"]
            assert "sent" in history
            # still byte-identical as received, though what was delivered may be signed
            assert client.get(f"/api/v1/messages/{created['id']}/payload").content == data
        with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as admin:
            metrics = admin.get("/metrics").text
        count = [line for line in metrics.splitlines() if line.startswith("xgw_processing_seconds_count")]
        assert count
        assert float(count[0].split()[-1]) >= 1  # the offer reached queued
        with gateway.client(gateway.token(ARCHIVE, Scope.READ)) as archive:
            inbound = archive.get("/api/v1/messages", params={"direction": "in", "process": created["process_id"]})
            copies = inbound.json()["items"]
            assert [m["state"] for m in copies if m["message_type"] == "0501"]
    finally:
        stop.set()
        worker.join(timeout=30)
