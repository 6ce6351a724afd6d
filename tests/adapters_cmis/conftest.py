"""Fixtures: the CMIS Browser Binding test server on loopback (see cmis_server.py) and CMIS adapters on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterContext
from adapters.cmis import CmisAdapter
from adapters.cmis.properties import CMIS_DEFAULT, metadata_property_ids
from gateway.config import Settings
from tests.adapters_cmis.cmis_server import CmisServer

USER = "xgw"
PASSWORD = "Gehëim-Wört-42"  # non-ASCII on purpose: Basic auth must carry it as UTF-8
PASSWORD_ENV = "XGW_TEST_CMIS_PASSWORD"
SECONDARY = {"xdomea:metadata": metadata_property_ids(CMIS_DEFAULT)}


@pytest.fixture
def cmis_server() -> Iterator[CmisServer]:
    server = CmisServer({USER: PASSWORD, "reader": "reader-pw"}, secondary_types=SECONDARY)
    server.start()
    try:
        yield server
    finally:
        server.stop()


CmisFactory = Callable[..., CmisAdapter]


@pytest.fixture
def cmis_adapter(tmp_path: Path, settings: Settings) -> Iterator[CmisFactory]:
    """``cmis_adapter(server, name="b", **config)``: a CMIS adapter with its own state directory."""
    opened: list[CmisAdapter] = []

    def make(server: CmisServer, name: str = "b", env: dict[str, str] | None = None, **config: Any) -> CmisAdapter:
        context = AdapterContext(
            participant=f"psw:{name}",
            state_dir=tmp_path / "state" / name,
            settings=settings,
            env={PASSWORD_ENV: PASSWORD} if env is None else env,
            base_dir=tmp_path,
        )
        base: dict[str, Any] = {
            "kind": "cmis",
            "url": server.url,
            "username": USER,
            "password_env": PASSWORD_ENV,
            "sender": "psw:16067000",
            "sender_name": "Landratsamt Gotha",
            "recipient": "psw:16000001",
            "recipient_name": "Landesarchiv Thüringen",
            "timeout": 10,
        }
        adapter = CmisAdapter.from_config({**base, **config}, context)
        opened.append(adapter)
        return adapter

    try:
        yield make
    finally:
        for adapter in opened:
            adapter.close()
