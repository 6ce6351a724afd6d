"""``GET /api/v1/messages/{message_id}/dms-objects``: which DMS object each Schriftgutobjekt became.

Written by the pipeline when it delivers a message into the recipient's DMS adapter (issue 5): per
object the adapter kind, the DMS's id for it (for a hotfolder the delivered file and the object's id in
it), the outcome and the reason. Asked for an outbound message delivered on this gateway, the answer is
that of its delivered copy, so the sender sees where its records went; the visibility rules are those
of the message itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from gateway.api.auth import Reader
from gateway.api.problems import error_responses
from gateway.api.state import ApiState, api_state
from gateway.api.visibility import visible_message
from gateway.store.models import DeliveryObject, Message

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])


class DmsObjectView(BaseModel):
    """One Schriftgutobjekt of the message and what became of it in the recipient's DMS."""

    message_id: uuid.UUID = Field(description="The delivered (inbound) message the row belongs to.")
    xdomea_id: str = Field(description="Identifikation/ID, or xdomeaUUID in 4.0.0.")
    kind: str = Field(description="Akte, Teilakte, Vorgang, Teilvorgang or Dokument.")
    parent_xdomea_id: str | None = Field(description="The enclosing object; null for the objects handed over.")
    adapter: str = Field(description="The adapter kind that imported it, e.g. hotfolder.")
    dms_id: str | None = Field(description="The object's id or path in the DMS; null when it was not imported.")
    outcome: str = Field(
        description="imported, duplicate (imported by an earlier delivery), handed-over (put where an archive"
        " such as x-man takes it; it confirms the import itself), failed, not-attempted."
    )
    reason: str | None
    recorded_at: datetime


class DmsObjects(BaseModel):
    message_id: uuid.UUID
    objects: list[DmsObjectView] = Field(description="Empty when the message was not delivered to a DMS adapter.")


@router.get(
    "/{message_id}/dms-objects",
    response_model=DmsObjects,
    summary="Where the message's Schriftgutobjekte went in the recipient's DMS",
    responses=error_responses(),
)
def get_dms_objects(
    message_id: uuid.UUID, principal: Reader, state: Annotated[ApiState, Depends(api_state)]
) -> DmsObjects:
    with Session(state.engine) as session:
        message = visible_message(session, principal, message_id)
        copies = session.exec(select(Message.id).where(col(Message.source_id) == message.id)).all()
        rows = session.exec(
            select(DeliveryObject)
            .where(col(DeliveryObject.message_id).in_([message.id, *copies]))
            .order_by(col(DeliveryObject.id))
        ).all()
        objects = [DmsObjectView.model_validate(row, from_attributes=True) for row in rows]
    return DmsObjects(message_id=message_id, objects=objects)
