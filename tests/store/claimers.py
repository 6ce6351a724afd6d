"""A minimal worker loop for the concurrency tests; a module of its own so that spawned processes can import it."""

from __future__ import annotations

from gateway.pipeline.lifecycle import transition
from gateway.store.db import create_engine, make_session
from gateway.store.models import MessageState
from gateway.store.queue import claim_next


def drain(url: str, worker_id: str, lease_seconds: float = 300) -> list[str]:
    """Claim queued messages and mark them sent until none is due; returns the ids this worker claimed."""
    engine = create_engine(url)
    claimed: list[str] = []
    try:
        with make_session(engine) as session:
            while (message := claim_next(session, worker_id, [MessageState.QUEUED], lease_seconds)) is not None:
                claimed.append(str(message.id))
                transition(session, message, MessageState.SENT, worker_id, "handed to peer", worker_id=worker_id)
    finally:
        engine.dispose()
    return claimed
