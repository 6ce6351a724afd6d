"""One running gateway with console users and seeded messages per module (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.config import Settings
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.api.support import Gateway, running_gateway
from tests.console.support import add_users
from tests.store.conftest import available_backends


@pytest.fixture(scope="module", params=available_backends())
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    registry: SchemaRegistry,
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp(f"console-{request.param}")
    with running_gateway(request.param, folder, settings, registry) as running:
        add_users(running)
        yield running
