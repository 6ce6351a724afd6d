"""The server's logs: JSON lines (:mod:`gateway.observability.logs`) for the gateway and uvicorn alike.

The request id lives in a context variable set by the request middleware, so every log line written
while serving a request -- by the API, the store or the pipeline -- carries it without being passed
around. Operators search the log by the id a client reports from an error's ``request_id``.
"""

from __future__ import annotations

import logging

from gateway.observability.logs import JsonFormatter, configure_json_logging, request_id_var

__all__ = ["JsonFormatter", "configure_logging", "request_id_var"]


def configure_logging(level: str = "info") -> None:
    """Send the gateway's and uvicorn's logs to stderr as JSON lines (``xgw serve`` calls this once)."""
    configure_json_logging(level, logger=None)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # the request middleware writes one line per request, with the request id; uvicorn's would repeat it
    logging.getLogger("uvicorn.access").disabled = True
