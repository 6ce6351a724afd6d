"""Structured logs: one JSON object per line, for every process of the gateway (server, worker, CLI).

One formatter for all of them, so that an operator's log search works the same on each: ``ts``, ``level``,
``logger``, ``msg``, the request id of the request being served (a context variable set by the API's request
middleware, so every line written while serving a request carries it without being passed around), every
``extra`` field a caller adds (the pipeline adds ``message_id``, ``process_id``, ``message_type``, ``worker_id``,
``state``) and ``exc``. Only identifiers, states and reasons are logged: never payload bytes, message content
or key material.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("xgw_request_id", default=None)

# Libraries whose INFO lines say nothing an operator can act on: alembic 1.16+ announces each of its
# autogenerate plugins at every start, seven lines before the gateway's first word.
_QUIET_LOGGERS = {"alembic.runtime.plugins": logging.WARNING}

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime", "taskName", "color_message"}
)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, ...extra fields, "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_json_logging(level: int | str = logging.INFO, *, logger: str | None = "gateway") -> logging.Logger:
    """Send ``logger``'s records (``None``: every logger's) to stderr as JSON lines; returns that logger.

    The worker command routes the gateway's loggers only; ``xgw serve`` routes the root logger, uvicorn's too.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    target = logging.getLogger(logger)
    target.handlers[:] = [handler]
    target.setLevel(level.upper() if isinstance(level, str) else level)
    if logger is not None:
        target.propagate = False
    else:
        for name, quiet_level in _QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(quiet_level)
    return target
