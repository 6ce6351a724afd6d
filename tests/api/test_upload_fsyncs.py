"""The fsyncs behind the REST intake's answers (issue 11): exactly what a 201 promises, nothing for a refusal.

The gateway of these tests serves in a thread of this process, so every ``os.fsync`` of the request is
recorded with the inode it synced. A 201 must have synced the stored file, the folder holding it and every
folder made for it; a refused or only validated upload is never stored, so it syncs nothing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from gateway.participants.tokens import Scope
from tests.api.support import GOTHA, SAMPLES, Gateway, assert_problem, offer


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    inodes: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        inodes.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return inodes


def _warm_up(client: httpx.Client, synced: list[int]) -> None:
    """One validation first: the store's staging folder is made (and synced) once, as at a gateway's start."""
    name, data = offer(300)
    assert client.post("/api/v1/validate", content=data, headers={"X-Filename": name}).status_code == 200
    synced.clear()


def _promised(gateway: Gateway, sha256: str) -> list[Path]:
    """What a 201 for ``sha256`` must have synced: the file, its folder, and the folder holding each new folder.

    A new second-level folder is an entry in its first-level folder; the store's first commit makes all
    first-level folders, entries in the root.
    """
    final = gateway.ctx.payloads.path_of(sha256)
    second, first = final.parent, final.parent.parent
    return [final, second] + [folder.parent for folder in (second, first) if not folder.is_dir()]


def test_a_201_has_synced_the_file_its_folder_and_every_new_folder(fresh_gateway: Gateway, synced: list[int]) -> None:
    with fresh_gateway.client(fresh_gateway.token(GOTHA, Scope.SUBMIT)) as client:
        _warm_up(client, synced)
        for seed in (301, 302, 303):
            name, data = offer(seed)
            expected = _promised(fresh_gateway, hashlib.sha256(data).hexdigest())
            synced.clear()
            response = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
            assert response.status_code == 201, response.text
            assert sorted(synced) == sorted({p.stat().st_ino for p in expected})
            assert len(synced) <= 4 if seed == 301 else len(synced) <= 3


def test_the_same_message_again_syncs_nothing(fresh_gateway: Gateway, synced: list[int]) -> None:
    """The 200 names the message stored by the first 201, whose payload is durable already."""
    name, data = offer(304)
    with fresh_gateway.client(fresh_gateway.token(GOTHA, Scope.SUBMIT)) as client:
        first = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
        assert first.status_code == 201
        synced.clear()
        again = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert synced == []


def test_refused_and_validated_uploads_sync_nothing(gateway: Gateway, synced: list[int]) -> None:
    name, data = offer(305)
    broken = data.replace(b"<xdomea:Nachrichtentyp", b"<xdomea:Unbekannt", 1).replace(
        b"</xdomea:Nachrichtentyp>", b"</xdomea:Unbekannt>", 1
    )
    package_sample = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip"
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        _warm_up(client, synced)
        refused = client.post("/api/v1/messages", content=broken, headers={"X-Filename": name})
        assert_problem(refused, 422, "invalid-message")
        validated = client.post("/api/v1/validate", content=data, headers={"X-Filename": name})
        assert validated.status_code == 200 and validated.json()["valid"] is True
        zipped = client.post("/api/v1/validate", content=package_sample.read_bytes())
        assert zipped.status_code == 200 and zipped.json()["valid"] is True
    assert synced == []
