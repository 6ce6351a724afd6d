"""Everything a pipeline step needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.config import Settings
from gateway.pipeline.dms import AdapterPool
from gateway.pipeline.transport import Transport, TransportFactory, mailbox_transports
from gateway.store.db import create_engine, database_url, make_session
from gateway.store.migrate import upgrade_database
from gateway.store.models import RouteKind
from gateway.store.payloads import PayloadStore
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.signatures.keys import KeyStore
from gateway.xoev.validation.validate import Validator

PAYLOADS_DIR = "payloads"
KEYS_DIR = "keys"  # the same directory ``xgw keys`` writes to


@dataclass(slots=True)
class PipelineContext:
    """Settings, database, payload store, validator, keys, transports and DMS adapters of one gateway process.

    Safe to share between threads of a process (the engine pools connections, the validator is
    thread-safe); each unit of work opens its own session with :meth:`session`.
    """

    settings: Settings
    engine: Engine
    payloads: PayloadStore
    validator: Validator
    keys: KeyStore
    transports: dict[RouteKind, Transport] = field(default_factory=dict)
    #: the participants' DMS adapters, opened on first use (:mod:`gateway.pipeline.dms`)
    adapters: AdapterPool = field(default_factory=AdapterPool)
    #: OpenTelemetry tracer provider for message spans when tracing is on (None: the global provider)
    tracer_provider: Any = None

    @property
    def registry(self) -> SchemaRegistry:
        return self.validator.registry

    def session(self) -> Session:
        return make_session(self.engine)

    def transport_for(self, route: RouteKind) -> Transport:
        return self.transports[route]


def context_from_settings(
    settings: Settings,
    *,
    engine: Engine | None = None,
    registry: SchemaRegistry | None = None,
    migrate: bool = True,
    transports: TransportFactory = mailbox_transports,
) -> PipelineContext:
    """The context for ``settings``; upgrades the database schema first unless ``migrate`` is False.

    ``engine`` and ``registry`` let a process that already has them (the API server, tests) share them.
    ``transports`` builds the ways out from the payload store (default: local mailboxes only); a whole
    gateway, with the XTA 2 client, is built by :func:`gateway.wiring.build_context`.
    """
    engine = engine or create_engine(database_url(settings))
    if migrate:
        upgrade_database(engine)
    payloads = PayloadStore(settings.data_dir / PAYLOADS_DIR)
    return PipelineContext(
        settings=settings,
        engine=engine,
        payloads=payloads,
        validator=Validator(registry, settings),
        keys=KeyStore(settings.data_dir / KEYS_DIR),
        transports=transports(settings, payloads),
    )
