"""The hotfolder's ``preset = "xman"`` against the x-man simulator, locally and on a real WebDAV server."""

from __future__ import annotations

import dataclasses
import stat
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Acknowledgement, AdapterContext, ConfigError, ImportStatus, ObjectStatus, Unavailable
from adapters.hotfolder import HotfolderAdapter, HotfolderConfig
from adapters.hotfolder.local import LocalStorage
from adapters.hotfolder.xman import XMAN_VERSIONS
from adapters.runner import export_once
from gateway.demo import DEMO_DIRECTORY
from gateway.pipeline.dms import adapter_spec
from gateway.samples.generate import generate_message
from gateway.xoev.build import build, write_package
from tests.adapters.conftest import PASSWORD_ENV, USER, DavServer
from tests.adapters.xman_sim import Agency, XmanSim

DISTRICT = "psw:16077000"
OTHER = "psw:16076000"


def offer_xml(
    out: Path, *, version: str = "3.1.0", seed: int = 5, code: str = "0501", sender: str = DISTRICT
) -> tuple[Path, str]:
    """A message from ``sender`` as intake passes it on: its Absender carries the sender's Behördenkennung."""
    generated = generate_message(version, code, documents=2, size=0, seed=seed)
    party = generated.message.kopf.sender
    assert party is not None
    prefix, kennung = sender.split(":")
    # a copy: the generator hands out its shared SENDER party
    generated.message.kopf.sender = dataclasses.replace(party, authority_prefix=prefix, authority_id=kennung)
    built = build(generated.message)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{built.stem}.xml"
    path.write_bytes(built.to_bytes())
    return path, generated.message.kopf.process_id


XmanFactory = Callable[..., HotfolderAdapter]


@pytest.fixture(params=["local", "webdav"])
def xman(
    request: pytest.FixtureRequest, tmp_path: Path, context_for: Callable[[str], AdapterContext]
) -> Iterator[tuple[XmanFactory, Path]]:
    """(``make(**config)``, the root holding the transfer directories) on a local directory or WebDAV."""
    server: DavServer | None = None
    root = tmp_path / "transfer"
    if request.param == "webdav":
        server = DavServer(tmp_path / "dav-root")
        server.start()
        root = server.root / "transfer"
    root.mkdir(parents=True)
    opened: list[HotfolderAdapter] = []

    def make(**config: Any) -> HotfolderAdapter:
        base: dict[str, Any] = {
            "kind": "hotfolder",
            "preset": "xman",
            "poll_interval": 0,
            "transfer_dirs": {DISTRICT: "altenburger-land", OTHER: "greiz"},
        }
        if server is not None:
            base.update(url=server.url + "transfer/", username=USER, password_env=PASSWORD_ENV)
        else:
            base.update(path=str(root))
        adapter = HotfolderAdapter.from_config({**base, **config}, context_for("archiv"))
        opened.append(adapter)
        return adapter

    try:
        yield make, root
    finally:
        for adapter in opened:
            adapter.close()
        if server is not None:
            server.stop()


def agencies(root: Path) -> list[Agency]:
    out = [Agency(DISTRICT, root / "altenburger-land"), Agency(OTHER, root / "greiz")]
    for agency in out:
        for folder in agency.folders.values():
            (agency.root / folder).mkdir(parents=True, exist_ok=True)
    return out


def test_messages_go_to_their_senders_directory_as_zip_and_answers_are_taken_once(
    xman: tuple[XmanFactory, Path], tmp_path: Path
) -> None:
    make, root = xman
    sim = XmanSim(agencies(root), with_kennung=True)
    adapter = make()
    xml, pid = offer_xml(tmp_path / "made")

    result = adapter.import_message_from(xml, sender=DISTRICT)
    assert result.status is ImportStatus.HANDED_OVER and result.ok  # ok, yet no import: no 0506 from it
    assert {o.status for o in result.objects} == {ObjectStatus.HANDED_OVER}
    assert adapter.import_message_from(xml, sender=DISTRICT).status is ImportStatus.DUPLICATE
    name = f"{pid}_Aussonderung.Anbieteverzeichnis.0501.zip"
    assert result.location == f"altenburger-land/{name}"
    with zipfile.ZipFile(root / "altenburger-land" / name) as archive:
        assert archive.namelist() == [xml.name] and archive.read(xml.name) == xml.read_bytes()
    assert sorted(p.name for p in (root / "greiz").iterdir() if p.is_file()) == []
    assert list((root / ".xgw-staging").iterdir()) == []

    assert sim.scan() == 1 and (sim.unknown, sim.half_read, sim.refused) == ([], [], [])
    answers = sorted(path for _, path in sim.written)
    assert [a.split("/")[0] for a in answers] == ["0502", "0504"]

    taken: list[str] = []

    def take(file: Any) -> Acknowledgement:
        taken.append(file.name)
        return Acknowledgement.taken(f"ref-{len(taken)}")

    assert export_once(adapter, take).taken == []  # seen once: x-man may still be writing
    assert sorted(export_once(adapter, take).taken) == sorted(a.split("/")[1] for a in answers)
    assert export_once(adapter, take).taken == []
    for answer in answers:  # left for x-man, which deletes its own files with the process
        assert (root / "altenburger-land" / answer).exists()
    adapter.close()

    again = make()  # a restart: the ledger, not memory, keeps them from being taken twice
    assert export_once(again, take).taken == [] and export_once(again, take).taken == []
    assert len(taken) == 2


def test_an_answer_x_man_is_still_writing_is_not_taken(xman: tuple[XmanFactory, Path]) -> None:
    make, root = xman
    agencies(root)
    adapter = make()
    answer = root / "greiz" / "0504" / "0b7d2f7e-2b1d-4c8a-9a40-6a3a3c1f2e11_0504.zip"
    answer.write_bytes(b"PK\x03\x04 half")  # x-man creates the file in place and copies into it
    seen: list[str] = []

    def take(file: Any) -> Acknowledgement:
        seen.append(file.name)
        return Acknowledgement.refused("not a message")

    assert export_once(adapter, take).taken == []
    with answer.open("ab") as out:
        out.write(b" and the rest")
    assert export_once(adapter, take).refused == []  # changed since the last poll: not complete yet
    assert [name for name, _ in export_once(adapter, take).refused] == [answer.name]
    assert export_once(adapter, take).refused == []  # a refused answer is not offered again while unchanged
    assert answer.exists()  # and never moved inside x-man's directory


class _CrashingStorage(LocalStorage):
    def rename(self, src: str, dst: str) -> None:
        raise KeyboardInterrupt("killed before the rename")


def test_a_crash_before_the_rename_leaves_nothing_x_man_could_read(
    tmp_path: Path, context_for: Callable[[str], AdapterContext]
) -> None:
    root = tmp_path / "transfer"
    sim = XmanSim(agencies(root))
    config = HotfolderConfig(path=root, preset="xman", transfer_dirs={DISTRICT: "altenburger-land"}, poll_interval=0)
    xml, pid = offer_xml(tmp_path / "made")
    crashing = HotfolderAdapter.from_config(config.model_dump(mode="json"), context_for("archiv"))
    crashing.storage = _CrashingStorage(root)
    with pytest.raises(KeyboardInterrupt):
        crashing.import_message_from(xml, sender=DISTRICT)
    crashing.close()
    staged = list((root / ".xgw-staging").iterdir())
    assert len(staged) == 1 and stat.S_IMODE(staged[0].stat().st_mode) == 0o640
    # x-man's patterns are unanchored: the staged name would match, but x-man never looks beside its folders
    assert sim.scan() == 0 and (sim.unknown, sim.half_read) == ([], [])

    restarted = HotfolderAdapter.from_config(config.model_dump(mode="json"), context_for("archiv"))
    assert restarted.import_message_from(xml, sender=DISTRICT).status is ImportStatus.HANDED_OVER
    restarted.close()
    assert sim.scan() == 1 and sim.read[0][2:] == ("0501", pid)
    assert list((root / ".xgw-staging").iterdir()) == []

    # why it stages beside the directories: the same temporary name inside one is read half-written
    (root / "altenburger-land" / staged[0].name).write_bytes(b"PK")
    sim.scan()
    assert [name for _, name, _ in sim.half_read] == [staged[0].name]


def test_what_x_man_cannot_read_is_refused_with_the_reason(xman: tuple[XmanFactory, Path], tmp_path: Path) -> None:
    make, root = xman
    agencies(root)
    adapter = make()
    newer, _ = offer_xml(tmp_path / "v4", version="4.0.0")
    result = adapter.import_message_from(newer, sender=DISTRICT)
    assert result.status is ImportStatus.FAILED and "2.3.0 to 3.1.0" in (result.reason or "")
    other_type, _ = offer_xml(tmp_path / "0101", code="0101")
    result = adapter.import_message_from(other_type, sender=DISTRICT)
    assert result.status is ImportStatus.FAILED and "0501, 0503, 0505" in (result.reason or "")
    offer, _ = offer_xml(tmp_path / "stranger", seed=9, sender="psw:16055000")
    with pytest.raises(ConfigError, match="no transfer directory for psw:16055000"):
        adapter.import_message_from(offer, sender="psw:16055000")
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_a_package_keeps_its_bytes(xman: tuple[XmanFactory, Path], tmp_path: Path) -> None:
    make, root = xman
    agencies(root)
    generated = generate_message("3.0.0", "0503", documents=2, size=1000, seed=3)
    package = write_package(generated.message, tmp_path, generated.files).path
    result = make().import_message_from(package, sender=OTHER)
    assert result.status is ImportStatus.HANDED_OVER
    assert (root / "greiz" / package.name).read_bytes() == package.read_bytes()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "needs transfer_dirs"),
        ({"transfer_dirs": {DISTRICT: "a", OTHER: "a/"}}, "each authority needs its own"),
        ({"transfer_dirs": {DISTRICT: "a", OTHER: "a/b"}}, "nested"),
        ({"transfer_dirs": {DISTRICT: ".hidden"}}, "leading dots"),
        ({"transfer_dirs": {"16077000": "a"}}, "not an XÖV id"),
        ({"transfer_dirs": {DISTRICT: "a"}, "staging": "a"}, "staging must not be"),
        ({"transfer_dirs": {DISTRICT: "a"}, "answer_dirs": {"0503": "x"}}, "0502, 0504, 0506 and 0507"),
        ({"transfer_dirs": {DISTRICT: "a"}, "per_type": True}, "do not apply"),
    ],
)
def test_preset_configuration_mistakes_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HotfolderConfig.model_validate({"path": "/srv/x", "preset": "xman", **config})


def test_transfer_dirs_need_the_preset() -> None:
    with pytest.raises(ValueError, match="only apply with preset"):
        HotfolderConfig.model_validate({"path": "/srv/x", "transfer_dirs": {DISTRICT: "a"}})


def test_import_confirmations_cannot_be_switched_on_with_the_preset() -> None:
    config = {"kind": "hotfolder", "preset": "xman", "path": "/srv/x", "transfer_dirs": {DISTRICT: "a"}}
    spec = adapter_spec("lth:16000100", config)
    assert spec is not None and spec.options.confirm_imports is False
    with pytest.raises(ConfigError, match="confirm_imports: not with preset"):
        adapter_spec("lth:16000100", {**config, "gateway": {"confirm_imports": True}})
    plain = adapter_spec("psw:1", {"kind": "hotfolder", "path": "/srv/x"})
    assert plain is not None and plain.options.confirm_imports is True


@pytest.mark.parametrize(("setting", "mode"), [(None, 0o640), ("0600", 0o600), (0o660, 0o660)])
def test_delivered_files_get_the_configured_mode(
    tmp_path: Path, context_for: Callable[[str], AdapterContext], setting: object, mode: int
) -> None:
    root = tmp_path / "dms"
    root.mkdir()
    config: dict[str, Any] = {"kind": "hotfolder", "path": str(root)}
    if setting is not None:
        config["file_mode"] = setting
    xml, _ = offer_xml(tmp_path / "made")
    with HotfolderAdapter.from_config(config, context_for("dms")) as adapter:
        result = adapter.import_message(xml)
    assert result.status is ImportStatus.IMPORTED
    assert stat.S_IMODE((root / "in" / xml.name).stat().st_mode) == mode


def test_a_file_mode_that_is_not_octal_is_refused() -> None:
    with pytest.raises(ValueError, match="octal file mode"):
        HotfolderConfig.model_validate({"path": "/srv/x", "file_mode": "rw-r-----"})


def test_the_demo_archive_accepts_what_x_man_reads() -> None:
    entries = tomllib.loads(DEMO_DIRECTORY.read_text(encoding="utf-8"))["participant"]
    (archive,) = [e for e in entries if e["name"] == "Landesarchiv Thüringen"]
    assert tuple(archive["accepted_versions"]) == XMAN_VERSIONS


def test_the_documented_preset_configuration_is_valid() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "adapters.md").read_text(encoding="utf-8")
    block = doc.split("## x-man (Landesarchiv Thüringen)", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    entry = tomllib.loads(block)["participant"][0]
    config = HotfolderConfig.model_validate(entry["adapter"])
    assert config.preset == "xman" and config.file_mode == 0o640
    assert config.transfer_dir("psw:16077000") == "altenburger-land"
    assert tuple(entry["accepted_versions"]) == XMAN_VERSIONS


def test_an_answer_in_another_districts_directory_is_not_taken(xman: tuple[XmanFactory, Path], tmp_path: Path) -> None:
    make, root = xman
    sim = XmanSim(agencies(root), with_kennung=True)
    adapter = make()
    xml, _ = offer_xml(tmp_path / "made")
    adapter.import_message_from(xml, sender=DISTRICT)
    sim.scan()
    appraisal = next(p for _, p in sim.written if p.startswith("0502/"))
    misplaced = root / "greiz" / appraisal  # x-man files by directory: Greiz must never get Altenburg's answer
    with zipfile.ZipFile(root / "altenburger-land" / appraisal) as original, zipfile.ZipFile(misplaced, "w") as copy:
        for item in original.namelist():  # stored, not deflated: other bytes, the same answer
            copy.writestr(item, original.read(item))
    taken: list[str] = []

    def take(file: Any) -> Acknowledgement:
        taken.append(file.key)
        return Acknowledgement.taken("ref")

    export_once(adapter, take)
    export_once(adapter, take)
    assert sorted(taken) == sorted(f"altenburger-land/{p}" for _, p in sim.written)
    assert misplaced.exists()


def test_health_names_each_transfer_directory(xman: tuple[XmanFactory, Path]) -> None:
    make, root = xman
    (root / "altenburger-land").mkdir()
    health = make().health()
    assert not health.ok
    assert "transfer directory of psw:16077000: ok" in health.detail
    assert "transfer directory of psw:16076000: FAILED" in health.detail and "greiz does not exist" in health.detail
    (root / "greiz").mkdir()
    assert make().health().ok


def test_a_missing_transfer_directory_is_not_created(xman: tuple[XmanFactory, Path], tmp_path: Path) -> None:
    make, root = xman
    xml, _ = offer_xml(tmp_path / "made")
    adapter = make()
    with pytest.raises(Unavailable, match="altenburger-land of psw:16077000 does not exist"):
        adapter.import_message_from(xml, sender=DISTRICT)
    assert not (root / "altenburger-land").exists()
    agencies(root)  # mounted again: the retried delivery goes out
    assert adapter.import_message_from(xml, sender=DISTRICT).status is ImportStatus.HANDED_OVER
