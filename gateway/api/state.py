"""What the routes share: the pipeline context (settings, database, payloads, validator) and the metrics.

Routes get it through :func:`api_state` (a FastAPI dependency) instead of globals, so that tests can run
several apps with different databases in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from sqlalchemy.engine import Engine

from gateway.api.metrics import ApiMetrics
from gateway.config import Settings
from gateway.pipeline.context import PipelineContext
from gateway.store.payloads import PayloadStore
from gateway.xoev.validation.validate import Validator


@dataclass
class ApiState:
    ctx: PipelineContext
    metrics: ApiMetrics

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def engine(self) -> Engine:
        return self.ctx.engine

    @property
    def payloads(self) -> PayloadStore:
        return self.ctx.payloads

    @property
    def validator(self) -> Validator:
        return self.ctx.validator

    @property
    def spool_dir(self) -> Path:
        return self.settings.api.spool_dir or self.settings.data_dir / "api-spool"


def api_state(request: Request) -> ApiState:
    state = request.app.state.xgw
    assert isinstance(state, ApiState)
    return state
