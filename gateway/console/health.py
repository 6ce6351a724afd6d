"""Peers and adapters for the dashboard: health from the database, XTA circuit breakers, DMS adapters' checks.

What every node shows alike comes from the rollups (:func:`gateway.console.stats.party_figures`): per XTA
peer the last hour's messages sent to it, failed and retried, and its messages waiting for a retry now; per
DMS adapter the same for inbound deliveries. Beside that, what only this node knows: the circuit breaker of
each peer it talked to, and the adapter's own health check. Adapter checks may touch a remote DMS, so each
participant's result is kept for ``CACHE_SECONDS``; the dashboard polls every few seconds and must not
hammer anybody's DMS. The colour is the worst of the two sources.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from gateway.console.stats import Level, PartyFigures, party_figures
from gateway.pipeline.context import PipelineContext
from gateway.store.models import Direction, Participant, RouteKind
from gateway.transport.xta_client.breaker import BreakerSnapshot, BreakerState

CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class AdapterHealth:
    participant: str
    kind: str
    ok: bool
    detail: str


_ORDER = {Level.OK: 0, Level.WARN: 1, Level.BAD: 2}


def worst(*levels: str) -> str:
    return max(levels, key=lambda level: _ORDER[level])


@dataclass(frozen=True, slots=True)
class PartyHealth:
    """One XTA peer or DMS adapter on the dashboard."""

    participant: str
    name: str
    target: str  # the peer's endpoint or the adapter's kind
    figures: PartyFigures
    level: str
    breaker: BreakerSnapshot | None = None
    probe: AdapterHealth | None = None


def peer_health(ctx: PipelineContext, connection: Connection, now: datetime) -> list[PartyHealth]:
    """Every participant reached over XTA: the database's figures for messages sent to it, and this node's breaker."""
    figures = party_figures(connection, Direction.OUTBOUND, now)
    breakers = {b.peer: b for b in peers(ctx)}
    out = []
    with Session(connection) as session:
        rows = session.exec(
            select(Participant).where(col(Participant.route_kind) == RouteKind.XTA).order_by(col(Participant.xoev_id))
        ).all()
    for p in rows:
        mine = figures.get(p.xoev_id, PartyFigures())
        breaker = breakers.get(p.endpoint_url or "")
        level = mine.level(now)
        if breaker is not None and breaker.state is BreakerState.OPEN:
            level = Level.BAD
        out.append(PartyHealth(p.xoev_id, p.display_name, p.endpoint_url or "", mine, level, breaker=breaker))
    return out


def adapter_health(
    ctx: PipelineContext, engine: Engine, connection: Connection, cache: AdapterHealthCache, now: datetime
) -> list[PartyHealth]:
    """Every participant with a DMS adapter: the database's figures for deliveries to it, and the adapter's check."""
    figures = party_figures(connection, Direction.INBOUND, now)
    names = {}
    with Session(connection) as session:
        for p in session.exec(select(Participant)):
            names[p.xoev_id] = p.display_name
    out = []
    for probe in cache.check(ctx, engine):
        mine = figures.get(probe.participant, PartyFigures())
        level = worst(mine.level(now), Level.OK if probe.ok else Level.BAD)
        out.append(
            PartyHealth(probe.participant, names.get(probe.participant, ""), probe.kind, mine, level, probe=probe)
        )
    return out


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
