"""Faults around a CMIS import, each ending in a defined state with nothing lost and nothing doubled:
redelivery, the repository failing or going away mid-import (then a retry completes), a package with a
missing primary file, objects already in the repository, refused credentials, a server that is down.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from adapters import AuthenticationFailed, ConfigError, ImportStatus, ObjectStatus, Unavailable
from gateway.config import Settings
from tests.adapters.conftest import generated_tree, write_generated
from tests.adapters_cmis.cmis_server import CmisServer, Repository
from tests.adapters_cmis.conftest import PASSWORD_ENV, SECONDARY, CmisFactory

DOCUMENTS = 20


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    return write_generated(tmp_path_factory.mktemp("pkg"), generated_tree(documents=DOCUMENTS, size=200_000), settings)


def _visible(repo: Repository) -> list[str]:
    inbox = repo.by_path("/xdomea/Eingang")
    return [o.props["cmis:name"] for o in repo.children(inbox.id)]


def _counts(repo: Repository) -> tuple[int, int]:
    folders = sum(1 for o in repo.objects.values() if o.base == "cmis:folder")
    return folders, len(repo.series)


def test_redelivery_creates_nothing_twice(
    cmis_server: CmisServer, cmis_adapter: CmisFactory, package: Path, tmp_path: Path
) -> None:
    adapter = cmis_adapter(cmis_server)
    first = adapter.import_message(package)
    assert first.status is ImportStatus.IMPORTED
    before = _counts(cmis_server.repo)
    spooled = tmp_path / "spool-0001.bin"  # the pipeline's content-addressed copy
    shutil.copyfile(package, spooled)
    again = adapter.import_message(spooled, filename=package.name)
    assert again.status is ImportStatus.DUPLICATE
    assert [o.dms_id for o in again.objects] == [o.dms_id for o in first.objects]
    assert _counts(cmis_server.repo) == before and len(_visible(cmis_server.repo)) == 1

    # the ledger is lost (a new state directory): the CMIS query finds the Akte, nothing is created
    fresh = cmis_adapter(cmis_server, name="fresh-ledger")
    third = fresh.import_message(package)
    assert third.status is ImportStatus.FAILED
    top = third.objects[0]
    assert top.status is ObjectStatus.FAILED and "already in the repository" in (top.reason or "")
    assert _counts(cmis_server.repo) == before


@pytest.mark.parametrize("nth", [5, 25])
def test_server_error_mid_import_rolls_back_and_retry_completes(
    cmis_server: CmisServer, cmis_adapter: CmisFactory, package: Path, nth: int
) -> None:
    adapter = cmis_adapter(cmis_server)
    adapter.health()  # settle the one-time type look-ups, so the n-th request falls into the import
    before = _counts(cmis_server.repo)
    cmis_server.app.fail_request(nth)
    with pytest.raises(Unavailable) as failed:
        adapter.import_message(package)
    assert "nothing was kept" in str(failed.value)
    assert _counts(cmis_server.repo) == before and _visible(cmis_server.repo) == []
    retried = adapter.import_message(package)
    assert retried.status is ImportStatus.IMPORTED
    assert _visible(cmis_server.repo) and len(cmis_server.repo.series) == DOCUMENTS
    assert not [
        n for n in cmis_server.repo.entries[cmis_server.repo.by_path("/xdomea/Eingang").id] if n.startswith(".")
    ]


def test_server_error_while_moving_into_place_is_finished_by_the_retry(
    cmis_server: CmisServer, cmis_adapter: CmisFactory, package: Path
) -> None:
    with CmisServer({"xgw": "p"}, secondary_types=SECONDARY) as rehearsal:  # how many requests an import takes
        trial = cmis_adapter(rehearsal, name="rehearsal", env={PASSWORD_ENV: "p"}, username="xgw")
        trial.health()
        start = rehearsal.app.requests
        assert trial.import_message(package).status is ImportStatus.IMPORTED
        total = rehearsal.app.requests - start
        assert rehearsal.app.log[-2][2] == "201"  # the move of the Akte, before the staging folder's delete
    adapter = cmis_adapter(cmis_server)
    adapter.health()
    cmis_server.app.fail_request(total - 1)
    with pytest.raises(Unavailable, match="every object is written and waits in the hidden folder"):
        adapter.import_message(package)
    repo = cmis_server.repo
    assert [n[:12] for n in _visible(repo)] == [".xgw-import-"] and len(repo.series) == DOCUMENTS
    retried = adapter.import_message(package)
    assert retried.status is ImportStatus.IMPORTED
    assert len(_visible(repo)) == 1 and not _visible(repo)[0].startswith(".") and len(repo.series) == DOCUMENTS


def test_server_gone_mid_import_leaves_a_marked_staging_folder_that_the_retry_finishes(
    cmis_server: CmisServer, cmis_adapter: CmisFactory, package: Path
) -> None:
    adapter = cmis_adapter(cmis_server)
    adapter.health()
    cmis_server.app.down_after(30)
    with pytest.raises(Unavailable) as failed:
        adapter.import_message(package)
    assert "hidden folder .xgw-import-" in str(failed.value)
    repo = cmis_server.repo
    assert _visible(repo) == [n for n in _visible(repo) if n.startswith(".xgw-import-")] != []
    created_before = len(repo.series)
    assert 0 < created_before < DOCUMENTS
    cmis_server.app.up()
    retried = adapter.import_message(package)
    assert retried.status is ImportStatus.IMPORTED, retried.reason
    assert [n for n in _visible(repo) if n.startswith(".")] == []
    assert len(_visible(repo)) == 1 and len(repo.series) == DOCUMENTS  # nothing doubled
    ids = [
        str(repo.properties(o).get("xdomea:id"))
        for o in repo.objects.values()
        if o.base == "cmis:document" and o.latest
    ]
    assert len(ids) == len(set(ids))


def test_server_down_before_import_changes_nothing(
    cmis_server: CmisServer, cmis_adapter: CmisFactory, package: Path
) -> None:
    adapter = cmis_adapter(cmis_server)
    cmis_server.stop()
    try:
        with pytest.raises(Unavailable, match="unreachable"):
            adapter.import_message(package)
        assert not adapter.health().ok
    finally:
        cmis_server.start()
    assert adapter.import_message(package).status is ImportStatus.IMPORTED


def test_missing_primary_file_imports_nothing(
    cmis_server: CmisServer, cmis_adapter: CmisFactory, package: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken" / package.name
    broken.parent.mkdir()
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(broken, "w") as dst:
        names = src.namelist()
        dropped = next(n for n in names if n != package.stem + ".xml")
        for name in names:
            if name != dropped:
                dst.writestr(name, src.read(name))
    adapter = cmis_adapter(cmis_server)
    before = cmis_server.app.requests
    result = adapter.import_message(broken)
    assert result.status is ImportStatus.FAILED
    failed = [o for o in result.objects if o.status is ObjectStatus.FAILED]
    assert len(failed) == 1 and dropped in (failed[0].reason or "")
    assert cmis_server.app.requests == before  # the repository was not even asked
    assert not any(o.base == "cmis:document" for o in cmis_server.repo.objects.values())


def test_wrong_password_is_authentication_failed(
    cmis_server: CmisServer, cmis_adapter: CmisFactory, package: Path
) -> None:
    adapter = cmis_adapter(cmis_server, env={PASSWORD_ENV: "falsch"})
    with pytest.raises(AuthenticationFailed) as refused:
        adapter.import_message(package)
    assert "falsch" not in str(refused.value)
    health = adapter.health()
    assert not health.ok and "refused the credentials" in health.detail
    assert len(cmis_server.repo.objects) == 1  # the root folder only


def test_configuration_errors_name_the_key(cmis_server: CmisServer, cmis_adapter: CmisFactory) -> None:
    with pytest.raises(ConfigError, match="password_env: the environment variable"):
        cmis_adapter(cmis_server, env={})
    with pytest.raises(ConfigError, match="import_folder"):
        cmis_adapter(cmis_server, import_folder="relativ")
    with pytest.raises(ConfigError, match="betref"):
        cmis_adapter(cmis_server, betref="x")
    with pytest.raises(ConfigError, match="clear text"):
        cmis_adapter(cmis_server, url="http://dms.example.de/cmis/browser")
    plain = CmisServer({"xgw": "x"})  # no secondary type
    with plain:
        adapter = cmis_adapter(plain, env={PASSWORD_ENV: "x"}, metadata="secondary")
        with pytest.raises(ConfigError, match="no secondary type 'xdomea:metadata'"):
            adapter.store()
