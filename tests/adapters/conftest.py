"""Fixtures for the adapter tests: a real WsgiDAV server on loopback with Basic auth, and adapter factories.

The WebDAV server runs in a thread with cheroot (the server WsgiDAV ships for production), serving a
directory under tmp_path; it can be stopped and started again on the same port, which is how the tests
take the "DMS" down in the middle of a run.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp

from adapters.base import AdapterContext
from adapters.hotfolder import HotfolderAdapter
from gateway.config import Settings
from gateway.samples.generate import Generated, generate_message
from gateway.xoev.build import write_package

USER = "gw"
PASSWORD = "Pässwört-123"  # non-ASCII on purpose: Basic auth must carry it as UTF-8
PASSWORD_ENV = "XGW_TEST_DAV_PASSWORD"


class DavServer:
    """WsgiDAV over cheroot on 127.0.0.1; ``stop()``/``start()`` keep the port and the files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.app = WsgiDAVApp(
            {
                "host": "127.0.0.1",
                "port": self.port,
                "provider_mapping": {"/dav": str(root)},
                "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False},
                "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
                "verbose": 1,
                "logging": {"enable_loggers": []},
                "lock_storage": True,
            }
        )
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dav/"

    def start(self) -> None:
        server = wsgi.Server(("127.0.0.1", self.port), self.app, numthreads=4)
        server.prepare()
        self._server = server
        self._thread = threading.Thread(target=server.serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[DavServer]:
    server = DavServer(tmp_path / "dav-root")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def context_for(settings: Settings, tmp_path: Path) -> Callable[[str], AdapterContext]:
    def make(name: str) -> AdapterContext:
        return AdapterContext(
            participant=f"psw:{name}",
            state_dir=tmp_path / "state" / name,
            settings=settings,
            env={PASSWORD_ENV: PASSWORD},
            base_dir=tmp_path,
        )

    return make


HotfolderFactory = Callable[..., HotfolderAdapter]


@pytest.fixture(params=["local", "webdav"])
def hotfolder(
    request: pytest.FixtureRequest, tmp_path: Path, context_for: Callable[[str], AdapterContext]
) -> Iterator[HotfolderFactory]:
    """``hotfolder(name, **config)``: a hotfolder adapter on a local directory or on the WebDAV server."""
    opened: list[HotfolderAdapter] = []
    server: DavServer | None = None
    if request.param == "webdav":
        server = DavServer(tmp_path / "dav-root")
        server.start()

    def make(name: str, **config: Any) -> HotfolderAdapter:
        base: dict[str, Any] = {"kind": "hotfolder", "poll_interval": 0}
        if server is not None:
            (server.root / name).mkdir(exist_ok=True)
            base.update(url=server.url + name + "/", username=USER, password_env=PASSWORD_ENV)
        else:
            (tmp_path / "folders" / name).mkdir(parents=True, exist_ok=True)
            base.update(path=str(tmp_path / "folders" / name))
        adapter = HotfolderAdapter.from_config({**base, **config}, context_for(name))
        opened.append(adapter)
        return adapter

    make.server = server  # type: ignore[attr-defined]
    make.root = server.root if server else tmp_path / "folders"  # type: ignore[attr-defined]
    try:
        yield make
    finally:
        for adapter in opened:
            adapter.close()
        if server is not None:
            server.stop()


def generated_tree(documents: int = 50, seed: int = 7, size: int = 400_000, version: str = "3.0.0") -> Generated:
    """The round-trip record tree: Akte with Teilakte, Vorgänge, Dokumente with versions, PDF/TIFF/XML/text."""
    return generate_message(version, "0503", documents=documents, size=size, seed=seed)


def write_generated(out_dir: Path, generated: Generated, settings: Settings) -> Path:
    return write_package(generated.message, out_dir, generated.files, settings=settings, compresslevel=1).path
