"""Log lines about a message carry its id, ProzessID and type (:func:`message_logger`).

The JSON lines themselves are written by :mod:`gateway.observability.logs`, the one formatter of every process.
Only identifiers, states and reasons are logged: never payload bytes, message content or key material.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from gateway.store.models import Message


class MessageLogger(logging.LoggerAdapter[logging.Logger]):
    """Adds the message's identifiers to every line (merged with the caller's own ``extra``)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def message_logger(logger: logging.Logger, message: Message, **more: object) -> MessageLogger:
    return MessageLogger(
        logger,
        {"message_id": str(message.id), "process_id": message.process_id, "message_type": message.message_type, **more},
    )
