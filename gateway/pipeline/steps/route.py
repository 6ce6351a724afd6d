"""Where a message goes: outbound ``signed -> queued`` (the recipient is still in the directory; its route
picks the transport), and the recipient's entry and DMS adapter for the steps after.

Deferred like signing: the send step commits both transitions with the hand-over (the local mailbox), or
before it talks to a remote peer.
"""

from __future__ import annotations

from adapters.base import AdapterError
from gateway.pipeline.dms import AdapterSpec, adapter_spec
from gateway.pipeline.steps.job import Job, Permanent, Retry
from gateway.store.models import MessageState, Participant


def recipient(job: Job) -> Participant:
    """The message's recipient in the directory; :class:`Permanent` when it is gone."""
    m = job.message
    row = job.participant(m.recipient_id)
    if row is None:
        raise Permanent(f"the recipient {m.recipient_id} is no longer in the participant directory")
    return row


def spec_of(participant: str, config: dict[str, object]) -> AdapterSpec | None:
    """The participant's DMS adapter; a broken configuration is retried (a person must fix the directory)."""
    try:
        return adapter_spec(participant, config)
    except AdapterError as exc:
        raise Retry(str(exc)) from None


def route(job: Job) -> bool:
    row = recipient(job)
    job.move(MessageState.QUEUED, f"route {row.route_kind.value} to {job.message.recipient_id}", defer=True)
    return True
