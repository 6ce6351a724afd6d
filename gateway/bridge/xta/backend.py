"""The production :class:`~gateway.transport.xta.backend.XtaBackend`: XTA accounts and boxes over the pipeline.

This module only composes; each part has its own module with one job:

* :mod:`.authorise` -- who may act for which account (caller identity -> participant);
* :mod:`.send_port` -- sendMessage as intake with channel ``xta``;
* :mod:`.msgbox_port` -- a reader's box: status lists, fetching, closing (queries in :mod:`.box`);
* :mod:`.management_port` -- MessageIDs (the ledger in :mod:`.ids`), service lookups, transport
  reports (:mod:`.meta`) and withdrawal.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.bridge.xta import authorise
from gateway.bridge.xta.management_port import ManagementPort
from gateway.bridge.xta.msgbox_port import MsgBoxPort
from gateway.bridge.xta.send_port import SendPort
from gateway.pipeline.context import PipelineContext
from gateway.transport.xta.backend import (
    Content,
    FetchedMessage,
    MessageMeta,
    MsgBoxSelection,
    PartyId,
    StatusListPage,
    TransportReport,
)
from gateway.transport.xta.identity import CallerIdentity


class PipelineXtaBackend:
    """XTA accounts, transport orders and message boxes of one gateway, stored by its pipeline."""

    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.send = SendPort(ctx)
        self.msgbox = MsgBoxPort(ctx)
        self.management = ManagementPort(ctx)

    def authorize(self, caller: CallerIdentity, party: PartyId) -> None:
        with self.ctx.session() as session:
            authorise.authorise(session, caller, party)

    # -- ManagementPort --------------------------------------------------------------------------------

    def create_message_id(self, author: PartyId) -> str:
        return self.management.create_message_id(author)

    def lookup_service(self, author: PartyId, reader: PartyId, service: str) -> bool | None:
        return self.management.lookup_service(author, reader, service)

    def transport_report(self, author: PartyId, message_id: str) -> TransportReport:
        return self.management.transport_report(author, message_id)

    def cancel_message(self, author: PartyId, message_id: str) -> None:
        self.management.cancel_message(author, message_id)

    # -- SendXtaPort ------------------------------------------------------------------------------------

    def accept_message(self, meta: MessageMeta, message: Content, attachments: Sequence[Content]) -> None:
        self.send.accept_message(meta, message, attachments)

    # -- MsgBoxPort -------------------------------------------------------------------------------------

    def status_list(self, reader: PartyId, selection: MsgBoxSelection, max_items: int | None) -> StatusListPage:
        return self.msgbox.status_list(reader, selection, max_items)

    def next_status_list(self, reader: PartyId, request_id: str) -> StatusListPage:
        return self.msgbox.next_status_list(reader, request_id)

    def fetch_message(self, reader: PartyId, selection: MsgBoxSelection) -> FetchedMessage:
        return self.msgbox.fetch_message(reader, selection)

    def fetch_next_message(self, reader: PartyId, request_id: str, received: Sequence[str]) -> FetchedMessage:
        return self.msgbox.fetch_next_message(reader, request_id, received)

    def close(self, reader: PartyId, request_id: str, received: Sequence[str]) -> None:
        self.msgbox.close(reader, request_id, received)
