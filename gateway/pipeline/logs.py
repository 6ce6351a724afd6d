"""Structured logs: one JSON object per line, with the message id and ProzessID whenever there is a message.

Only identifiers, states and reasons are logged: never payload bytes, message content or key material.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from gateway.store.models import Message

CONTEXT_FIELDS = ("message_id", "process_id", "worker_id", "state", "message_type")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", message_id?, process_id?, worker_id?, ..., "exc"?}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


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


def configure_json_logging(level: int = logging.INFO) -> None:
    """Route the gateway's loggers to stderr as JSON lines (the worker command calls this once)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("gateway")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
