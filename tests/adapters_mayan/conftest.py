"""A real Mayan EDMS for the adapter tests, set up once per test session (see :mod:`tests.adapters_mayan.server`).

The Mayan tests run on one xdist worker (``xdist_group("mayan")`` with ``--dist loadgroup``), so one Mayan
serves them all. Nothing is skipped in CI: if Mayan cannot be installed or started there, every test here
fails with the reason. Locally ``XGW_SKIP_MAYAN=1`` skips them (for a machine without PyPI access).
Each test gets its own inbox and outbox cabinets and its own adapter state, so the tests do not see each
other's records although they share the server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterContext
from adapters.mayan import MayanAdapter
from gateway.config import Settings
from tests.adapters_mayan.server import ADMIN, ADMIN_PASSWORD, MayanServer, MayanSetupError, provide

PASSWORD_ENV = "XGW_TEST_MAYAN_PASSWORD"


@pytest.fixture(scope="session")
def mayan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MayanServer]:
    if os.environ.get("XGW_SKIP_MAYAN") == "1" and not os.environ.get("CI"):
        pytest.skip("XGW_SKIP_MAYAN=1: the Mayan EDMS tests are switched off on this machine")
    try:
        server = provide(tmp_path_factory.mktemp("mayan"))
    except MayanSetupError as exc:
        pytest.fail(f"Mayan EDMS could not be set up (set XGW_SKIP_MAYAN=1 to skip locally): {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mayan(mayan_server: MayanServer) -> MayanServer:
    """The session's Mayan, running (a test that stopped it leaves it to be started again here)."""
    if not mayan_server.running:
        mayan_server.start()
    return mayan_server


MayanFactory = Callable[..., MayanAdapter]


@pytest.fixture
def mayan_adapter(mayan: MayanServer, tmp_path: Path, settings: Settings) -> Iterator[MayanFactory]:
    """``mayan_adapter(name, **config)``: an adapter on the shared Mayan with cabinets private to this test."""
    opened: list[MayanAdapter] = []
    run = uuid.uuid4().hex[:8]

    def make(name: str = "dms", **config: Any) -> MayanAdapter:
        context = AdapterContext(
            participant=f"psw:{name}",
            state_dir=tmp_path / "state" / name,
            settings=settings,
            env={PASSWORD_ENV: ADMIN_PASSWORD},
            base_dir=tmp_path,
        )
        base: dict[str, Any] = {
            "kind": "mayan",
            "url": mayan.url,
            "username": ADMIN,
            "password_env": PASSWORD_ENV,
            "inbox_cabinet": f"Eingang {name} {run}",
            "outbox_cabinet": f"Ausgang {name} {run}",
            "timeout": 120,
            "sender": "psw:16067000",
            "sender_name": "Landratsamt Gotha",
            "recipient": "psw:16000001",
            "recipient_name": "Landesarchiv Thüringen",
        }
        adapter = MayanAdapter.from_config({**base, **config}, context)
        opened.append(adapter)
        return adapter

    try:
        yield make
    finally:
        for adapter in opened:
            adapter.close()
