"""Pipeline fixtures: a real database (SQLite and PostgreSQL), payload store, keys and a small directory.

The directory has the generator's two parties (Landratsamt Gotha sends, Landesarchiv Thüringen archives),
both with a mailbox on this gateway and an EC signing key held here, and the placeholder identifiers of
the toolkit samples, which accept unsigned messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from gateway.config import Settings
from gateway.pipeline.context import PipelineContext
from gateway.wiring import build_context
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.pipeline import factories
from tests.store.conftest import database_url, empty_engine, engine

__all__ = ["database_url", "empty_engine", "engine"]


@pytest.fixture
def pipeline_settings(settings: Settings, tmp_path: Path, database_url: str) -> Settings:
    return settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "pipeline": settings.pipeline.model_copy(update={"retry_base_seconds": 0.0, "lease_seconds": 30.0}),
        }
    )


@pytest.fixture
def ctx(pipeline_settings: Settings, engine: Engine, registry: SchemaRegistry) -> PipelineContext:
    context = build_context(pipeline_settings, engine=engine, registry=registry)
    factories.directory(context)
    return context
