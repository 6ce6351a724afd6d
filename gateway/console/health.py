"""Peers and adapters for the dashboard: XTA circuit breakers of this process, DMS adapters' own health checks.

Adapter checks may touch a remote DMS, so each participant's result is kept for ``CACHE_SECONDS``; the
dashboard polls every few seconds and must not hammer anybody's DMS.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.pipeline.context import PipelineContext
from gateway.store.models import Participant, RouteKind
from gateway.transport.xta_client.breaker import BreakerSnapshot

CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class AdapterHealth:
    participant: str
    kind: str
    ok: bool
    detail: str


def peers(ctx: PipelineContext) -> list[BreakerSnapshot]:
    transport = ctx.transports.get(RouteKind.XTA)
    health = getattr(transport, "health", None)
    if health is None:
        return []
    snapshots = health()
    return [s for s in snapshots if isinstance(s, BreakerSnapshot)]


class AdapterHealthCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, AdapterHealth]] = {}

    def check(self, ctx: PipelineContext, engine: Engine) -> list[AdapterHealth]:
        with Session(engine) as session:
            rows = [
                (p.xoev_id, dict(p.adapter_config))
                for p in session.exec(select(Participant).order_by(col(Participant.xoev_id)))
                if p.adapter_config
            ]
        out = []
        now = time.monotonic()
        for participant, config in rows:
            with self._lock:
                cached = self._cache.get(participant)
            if cached is None or now - cached[0] > CACHE_SECONDS:
                cached = (now, _probe(ctx, participant, config))
                with self._lock:
                    self._cache[participant] = cached
            out.append(cached[1])
        return out


def _probe(ctx: PipelineContext, participant: str, config: dict[str, object]) -> AdapterHealth:
    kind = str(config.get("kind") or "?")
    try:
        from adapters.base import AdapterContext
        from adapters.registry import open_adapter

        folder = ctx.settings.data_dir / "console-health" / re.sub(r"[^A-Za-z0-9._-]", "_", participant)
        folder.mkdir(parents=True, exist_ok=True)
        adapter = open_adapter(config, AdapterContext(participant=participant, state_dir=folder, settings=ctx.settings))
        try:
            health = adapter.health()
        finally:
            adapter.close()
        return AdapterHealth(participant, kind, health.ok, health.detail or "ok")
    except Exception as exc:  # an adapter that cannot even be opened is unhealthy, whatever the reason
        return AdapterHealth(participant, kind, False, f"{type(exc).__name__}: {exc}")
