"""Fixtures shared by all tests: settings pointing at the shared bundle, a registry, a validator.

An autouse fixture refuses every network connection that is not to this machine, so a test that would
fetch a schema or an entity from the internet fails loudly instead of passing by luck.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Settings
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.validate import Validator

SHARED = Path(__file__).resolve().parents[2] / "shared" / "xoev"
SAMPLES = SHARED / "samples"


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_remote_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(schema_dir=SHARED, schema_cache_dir=tmp_path_factory.mktemp("schema-cache"))


@pytest.fixture(scope="session")
def registry(settings: Settings) -> SchemaRegistry:
    return SchemaRegistry.from_settings(settings)


@pytest.fixture(scope="session")
def validator(registry: SchemaRegistry, settings: Settings) -> Validator:
    return Validator(registry, settings)
