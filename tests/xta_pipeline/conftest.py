"""Fixtures: a gateway of each test's own on SQLite and (when available) PostgreSQL, served by uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.store.conftest import database_url
from tests.xta.conftest import xta_schemas
from tests.xta_pipeline.support import Gateway, running_gateway

__all__ = ["database_url", "xta_schemas"]


@pytest.fixture
def gateway(database_url: str, tmp_path: Path, settings: Settings, registry: SchemaRegistry) -> Iterator[Gateway]:
    with running_gateway(database_url, tmp_path, settings, registry) as running:
        yield running
