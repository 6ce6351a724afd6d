"""Fixtures: one running gateway per test module and database backend (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.config import Settings
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.api.support import Gateway, running_gateway
from tests.store.conftest import available_backends


@pytest.fixture(scope="module", params=available_backends())
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    registry: SchemaRegistry,
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp(f"api-{request.param}")
    with running_gateway(request.param, folder, settings, registry) as running:
        yield running


@pytest.fixture(params=available_backends())
def fresh_gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    registry: SchemaRegistry,
) -> Iterator[Gateway]:
    """A gateway of this test's own, for tests whose outcome depends on what was submitted before."""
    folder = tmp_path_factory.mktemp(f"api-fresh-{request.param}")
    with running_gateway(request.param, folder, settings, registry) as running:
        yield running
