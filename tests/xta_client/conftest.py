from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.transport.xta.memory import Account, MemoryBackend
from gateway.transport.xta_client.client import XtaClient
from gateway.transport.xta_client.errors import XtaClientError
from gateway.transport.xta_client.peer import make_peer
from tests.xta.support import make_app

from .support import AUTHOR, READER, Unreliable, client_settings, serve_on


@dataclass
class Peer:
    """Our XTA server behind an :class:`Unreliable` front, and a client for it that records its retries."""

    url: str
    backend: MemoryBackend
    front: Unreliable
    settings: Settings
    retries: list[XtaClientError]

    def client(self, **client: object) -> XtaClient:
        settings = self.settings
        if client:
            settings = settings.model_copy(update={"xta_client": settings.xta_client.model_copy(update=client)})
        return XtaClient(
            make_peer(self.url), settings, on_retry=lambda e, n: self.retries.append(e), sleep=lambda s: None
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return client_settings(tmp_path)


@pytest.fixture
def backend(tmp_path: Path) -> MemoryBackend:
    return MemoryBackend(tmp_path / "content", [Account(AUTHOR), Account(READER)])


@pytest.fixture
def peer(settings: Settings, backend: MemoryBackend) -> Iterator[Peer]:
    front = Unreliable(make_app(backend, settings))
    with serve_on(front) as url:
        yield Peer(url, backend, front, settings, [])
