from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import Settings, XtaServer
from gateway.transport.xta.memory import Account, MemoryBackend
from gateway.transport.xta.schemas import XtaSchemas, load_schemas

from .support import AUTHOR, READER, SHARED, XTA_DIR, RunningServer, make_app, serve


@pytest.fixture(scope="session")
def xta_schemas() -> XtaSchemas:
    return load_schemas(XTA_DIR)


def xta_settings(tmp_path: Path, **server: object) -> Settings:
    values: dict[str, object] = {"dev_trust_loopback": True, "spool_dir": tmp_path / "spool", **server}
    config = XtaServer.model_validate(values)
    return Settings(schema_dir=SHARED, data_dir=tmp_path / "data", xta_server=config)


@pytest.fixture
def memory_backend(tmp_path: Path) -> MemoryBackend:
    return MemoryBackend(tmp_path / "content", [Account(AUTHOR), Account(READER)])


@pytest.fixture
def server(tmp_path: Path, memory_backend: MemoryBackend) -> Iterator[RunningServer]:
    settings = xta_settings(tmp_path)
    with serve(make_app(memory_backend, settings)) as url:
        yield RunningServer(url, memory_backend, settings)
