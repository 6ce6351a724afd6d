"""Faults around a real Mayan: each ends in a defined, reported state, with nothing lost and nothing doubled."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import pytest

from adapters import AuthenticationFailed, ConfigError, ImportStatus, ObjectStatus, Unavailable
from adapters.inbound import Inbound, read_inbound
from adapters.mayan import MayanAdapter, MayanClient
from adapters.mayan.schema import COMPLETE, PARTIAL, STATE
from gateway.config import Settings
from tests.adapters.conftest import generated_tree, write_generated
from tests.adapters_mayan.conftest import MayanFactory
from tests.adapters_mayan.server import ADMIN, MayanServer

pytestmark = pytest.mark.xdist_group("mayan")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> list[Path]:
    out = tmp_path_factory.mktemp("mayan-packages")
    return [
        write_generated(out / str(i), generated_tree(documents=8, size=40_000, seed=40 + i), settings) for i in range(3)
    ]


def our_documents(adapter: MayanAdapter) -> list[dict[str, object]]:
    """Every document of the gateway's type that belongs to this test's import (by its inbox cabinet tree)."""
    client = adapter.client
    inbox = adapter.cabinet(adapter.config.inbox_cabinet)
    cabinets = client.cabinets()
    root = next(c for c in cabinets if c["id"] == inbox)
    seen: dict[int, dict[str, object]] = {}
    for cabinet in cabinets:
        if cabinet["full_path"] == root["full_path"] or cabinet["full_path"].startswith(root["full_path"] + " / "):
            for doc in client.cabinet_documents(int(cabinet["id"])):
                seen[int(doc["id"])] = doc
    return list(seen.values())


def states(adapter: MayanAdapter) -> dict[str, str]:
    out = {}
    for doc in our_documents(adapter):
        metadata = adapter.client.metadata(int(doc["id"]))  # type: ignore[arg-type]
        out[metadata["xdomea_id"][1]] = metadata[STATE][1]
    return out


def test_redelivery_creates_nothing_twice(mayan_adapter: MayanFactory, packages: list[Path]) -> None:
    dms = mayan_adapter("dms")
    first = dms.import_message(packages[0])
    assert first.status is ImportStatus.IMPORTED, first.reason
    before = sorted(int(d["id"]) for d in our_documents(dms))  # type: ignore[call-overload]
    assert len(before) == len(first.objects)

    again = dms.import_message(packages[0])
    assert again.status is ImportStatus.DUPLICATE
    assert {r.status for r in again.objects} == {ObjectStatus.DUPLICATE}
    assert [r.dms_id for r in again.objects] == [r.dms_id for r in first.objects]

    # the ledger lost (a new state directory): Mayan itself is asked, and still nothing is made twice
    fresh = mayan_adapter("dms-new-ledger", inbox_cabinet=dms.config.inbox_cabinet)
    third = fresh.import_message(packages[0])
    assert third.status is ImportStatus.FOUND, third.reason  # not "imported": nothing was created
    assert {r.status for r in third.objects} == {ObjectStatus.FOUND}
    assert "found complete in Mayan already" in (third.reason or "")
    assert [r.dms_id for r in third.objects] == [r.dms_id for r in first.objects]
    assert sorted(int(d["id"]) for d in our_documents(dms)) == before  # type: ignore[call-overload]
    assert len({c["id"] for c in dms.client.cabinets()}) == len({c["id"] for c in fresh.client.cabinets()})


def test_mayan_killed_mid_import_then_retry_completes(
    mayan_adapter: MayanFactory, mayan: MayanServer, packages: list[Path]
) -> None:
    dms = mayan_adapter("dms")
    dms.schema()
    calls = {"n": 0}
    real = dms.client.add_file

    def add_file_then_die(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # between two calls: after three files are in, the server is gone
            mayan.kill()
        real(*args, **kwargs)  # type: ignore[arg-type]

    dms.client.add_file = add_file_then_die  # type: ignore[method-assign]
    with pytest.raises(Unavailable) as stopped:
        dms.import_message(packages[1])
    assert "xgw_import_state=partial" in str(stopped.value)
    inbound = read_inbound(dms.validator, packages[1])
    assert isinstance(inbound, Inbound)
    record = dms.ledger.import_record(inbound.key)
    assert record is not None and record.state == "pending"

    mayan.start()
    partial = states(dms)
    assert partial and PARTIAL in partial.values()  # what went in is marked as unfinished

    dms.client.add_file = real  # type: ignore[method-assign]
    result = dms.import_message(packages[1])
    assert result.status is ImportStatus.IMPORTED, result.reason
    # the Dokumente completed before the kill are reported as found there, the rest as imported now
    assert ObjectStatus.FOUND in {r.status for r in result.objects}
    assert {r.status for r in result.objects} == {ObjectStatus.FOUND, ObjectStatus.IMPORTED}
    final = states(dms)
    assert set(final.values()) == {COMPLETE}
    assert len(final) == len(result.objects)  # one Mayan document per object: nothing doubled
    assert set(partial) <= set(final)


def test_missing_primary_file_is_refused_with_nothing_created(
    mayan_adapter: MayanFactory, packages: list[Path], tmp_path: Path
) -> None:
    broken = tmp_path / packages[2].name
    with zipfile.ZipFile(packages[2]) as src, zipfile.ZipFile(broken, "w") as dst:
        names = src.namelist()
        victim = next(n for n in names if not n.endswith(".xml"))
        for name in names:
            if name != victim:
                dst.writestr(src.getinfo(name), src.read(name))
    dms = mayan_adapter("dms")
    documents_before = dms.client.json("GET", "documents/", params={"page_size": 1})["count"]
    cabinets_before = len(dms.client.cabinets())
    result = dms.import_message(broken)
    assert result.status is ImportStatus.FAILED
    failed = [r for r in result.objects if r.status is ObjectStatus.FAILED]
    assert len(failed) == 1 and victim in (failed[0].reason or "")
    assert not any(o.success for o in result.outcomes())
    assert dms.client.json("GET", "documents/", params={"page_size": 1})["count"] == documents_before
    assert len(dms.client.cabinets()) == cabinets_before


def test_refused_credentials_and_unreachable_mayan(mayan: MayanServer, mayan_adapter: MayanFactory) -> None:
    wrong = MayanClient(mayan.url, username=ADMIN, password="not-the-password", timeout=30)
    with pytest.raises(AuthenticationFailed) as refused:
        wrong.ping()
    assert "not-the-password" not in str(refused.value)
    bad_token = MayanClient(mayan.url, token="0" * 40, timeout=30)
    with pytest.raises(AuthenticationFailed):
        bad_token.ping()
    nowhere = mayan_adapter("nowhere", url="http://127.0.0.1:9/")
    health = nowhere.health()
    assert not health.ok and "cannot reach Mayan" in health.detail
    dms = mayan_adapter("dms")
    assert not dms.health().ok  # its cabinets are not there yet, and the check does not make them
    dms.setup()
    assert dms.health().ok


def test_config_errors_name_the_key(mayan_adapter: MayanFactory) -> None:
    with pytest.raises(ConfigError, match="password_env"):
        mayan_adapter("x", password_env="XGW_NOT_SET_ANYWHERE")
    with pytest.raises(ConfigError, match="url"):
        mayan_adapter("x", url="ftp://example")
    with pytest.raises(ConfigError, match="plain http"):
        mayan_adapter("x", url="http://dms.example.de/")
    with pytest.raises(ConfigError, match="inbxo_cabinet: unknown key"):
        mayan_adapter("x", inbxo_cabinet="x")


def test_a_server_error_mid_import_is_retried_not_failed(
    mayan_adapter: MayanFactory, mayan: MayanServer, packages: list[Path]
) -> None:
    """Mayan stops answering during an upload (not between calls): the same defined state as a kill."""
    dms = mayan_adapter("dms")
    dms.schema()
    real = dms.client.add_metadata
    calls = {"n": 0}
    killer = threading.Thread(target=mayan.kill)

    def stop_during(*args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 7:
            killer.start()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    dms.client.add_metadata = stop_during  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        dms.import_message(packages[2])
    killer.join()
    mayan.start()
    dms.client.add_metadata = real  # type: ignore[method-assign]
    result = dms.import_message(packages[2])
    assert result.status is ImportStatus.IMPORTED, result.reason
    assert set(states(dms).values()) == {COMPLETE}
