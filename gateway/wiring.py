"""The one place that puts the gateway together: the pipeline context with every transport, and the HTTP app.

The layers below do not know each other's neighbours: the pipeline sends through the :class:`Transport`
seam and ships only its local mailbox; the XTA 2 client sits above it (:mod:`gateway.bridge.xta.sender`);
the REST API, the XTA ports and the admin console are built separately. This module joins them, and every
process gets its gateway from here -- ``xgw serve``, ``xgw worker``, ``xgw adapter`` and the tests -- so
that a worker, an API server and a test all run the same gateway.

Layers (checked by ``tests/test_layers.py`` with import-linter, contracts in ``pyproject.toml``)::

    cli, demo                 the command line and the demo
    wiring                    this module
    api | console             the HTTP faces, independent of each other
    bridge                    XTA <-> pipeline glue
    pipeline | transport      the state machine and its steps; the SOAP/MTOM/XTA protocol library
    participants | adapters   the participant directory; the DMS adapters (against their contract)
    store                     tables, payloads, queue leases
    xoev                      the standard
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from gateway.api.app import create_app as create_api
from gateway.api.state import ApiState
from gateway.bridge.xta.backend import PipelineXtaBackend
from gateway.bridge.xta.sender import XtaTransport
from gateway.config import Settings
from gateway.console.mount import mount_console
from gateway.pipeline.context import PipelineContext, context_from_settings
from gateway.pipeline.transport import LocalMailbox, Transport
from gateway.pipeline.worker import Worker, new_worker_id
from gateway.store.models import RouteKind
from gateway.store.payloads import PayloadStore
from gateway.transport.xta.backend import XtaBackend
from gateway.transport.xta.server import xta_router
from gateway.xoev.schemas.registry import SchemaRegistry


def transports(settings: Settings, payloads: PayloadStore) -> dict[RouteKind, Transport]:
    """Every way out of a whole gateway: local mailboxes, and the XTA 2 client for remote XTA servers."""
    return {RouteKind.MAILBOX: LocalMailbox(), RouteKind.XTA: XtaTransport(settings, payloads)}


def build_context(
    settings: Settings,
    *,
    engine: Engine | None = None,
    registry: SchemaRegistry | None = None,
    migrate: bool = True,
) -> PipelineContext:
    """The gateway's pipeline context for ``settings``, with all its transports.

    The arguments are those of :func:`gateway.pipeline.context.context_from_settings`: ``engine`` and
    ``registry`` let a process that has them share them; the database is upgraded first unless ``migrate``
    is False.
    """
    return context_from_settings(settings, engine=engine, registry=registry, migrate=migrate, transports=transports)


def create_app(ctx: PipelineContext, *, xta_backend: XtaBackend | None = None) -> FastAPI:
    """The whole HTTP surface for ``ctx``: the REST API, the XTA 2 ports and the admin console.

    The XTA ports serve ``ctx``'s pipeline (:class:`~gateway.bridge.xta.backend.PipelineXtaBackend`) unless
    ``xta_backend`` is given (tests give an in-memory one).
    """
    backend = xta_backend or PipelineXtaBackend(ctx)

    def xta_ports(app: FastAPI) -> None:
        app.include_router(xta_router(backend, ctx.settings))

    def console(app: FastAPI) -> None:
        state = app.state.xgw
        assert isinstance(state, ApiState)
        mount_console(app, ctx, state.metrics.registry)

    return create_api(ctx, extensions=(xta_ports, console))


def build_worker(ctx: PipelineContext, name: str | None = None) -> Worker:
    """A pipeline worker for ``ctx`` (``xgw worker``; ``xgw serve`` runs one in a thread)."""
    return Worker(ctx, new_worker_id(name))
