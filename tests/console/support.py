"""Console test helpers: a running gateway (tests/api/support), console users of each role, seeded messages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlmodel import Session

from gateway.console.users import add_user
from gateway.participants.tokens import Scope
from gateway.pipeline.lifecycle import transition
from gateway.store.models import ConsoleRole, Message, MessageState
from tests.api.support import ALTENBURG, ALTENBURG_PARTY, GOTHA, Gateway, offer

PASSWORD = "correct horse battery staple"
USERS = {
    "root": (ConsoleRole.GATEWAY_ADMIN, None),
    "abg": (ConsoleRole.PARTICIPANT_ADMIN, ALTENBURG),
    "viewer": (ConsoleRole.READ_ONLY, None),
}
FAILURE = "XtaRefused: peer answered 503 Service Unavailable"


def add_users(gateway: Gateway) -> None:
    for name, (role, participant) in USERS.items():
        add_user(gateway.ctx.engine, name, PASSWORD, role, participant)


def submit(gateway: Gateway, seed: int, *, altenburg: bool = False) -> str:
    sender = ALTENBURG if altenburg else GOTHA
    name, data = offer(seed, sender=ALTENBURG_PARTY if altenburg else None)
    with gateway.client(gateway.token(sender, Scope.SUBMIT)) as client:
        response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def fail(gateway: Gateway, message_id: str) -> None:
    """Move a validated outbound message to failed as the send step does when a peer refuses it."""
    with Session(gateway.ctx.engine, expire_on_commit=False) as session:
        message = session.get(Message, uuid.UUID(message_id))
        assert message is not None
        transition(session, message, MessageState.QUEUED, "test-worker", "queued for sending")
        transition(session, message, MessageState.FAILED, "test-worker", "refused by the peer", error=FAILURE)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


@contextmanager
def sign_in(gateway: Gateway, name: str, **kwargs: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60, **kwargs) as client:
        form = client.get("/console/login")
        response = client.post(
            "/console/login", data={"csrf": csrf_of(form.text), "username": name, "password": PASSWORD}
        )
        assert response.status_code == 303, response.text
        yield client
