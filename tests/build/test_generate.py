"""The generator: deterministic, realistic, exact sizes, valid output of every kind, bounded memory."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.samples.generate import generate_message, generate_to, parse_size
from gateway.xoev.model import ObjectKind
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.validate import Validator

MAGIC = {".pdf": b"%PDF-", ".tif": b"II*\x00", ".xml": b"<?xml", ".txt": b""}


@pytest.mark.parametrize(
    ("text", "size"), [("4096", 4096), ("64k", 64_000), ("64KiB", 65_536), ("1GiB", 1 << 30), ("1.5MB", 1_500_000)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("viel")


def test_same_seed_same_message_other_seed_other_message() -> None:
    a = generate_message("3.0.0", "0503", documents=40, size=100_000, seed=7)
    b = generate_message("3.0.0", "0503", documents=40, size=100_000, seed=7)
    c = generate_message("3.0.0", "0503", documents=40, size=100_000, seed=8)
    assert a.message == b.message
    assert a.message != c.message
    name = next(iter(a.files))
    assert b"".join(a.files[name].chunks()) == b"".join(b.files[name].chunks())


def test_tree_is_realistic_and_sizes_add_up() -> None:
    generated = generate_message("4.0.0", "0503", documents=600, size=3_000_000, seed=1)
    objects = generated.message.walk()
    kinds = {o.kind for o in objects}
    assert kinds == set(ObjectKind)
    assert sum(o.kind is ObjectKind.DOKUMENT for o in objects) == 600
    akten = [o for o in objects if o.kind is ObjectKind.AKTE]
    assert all(re.fullmatch(r"\d{3}\.\d{2}-\d{4}/\d{4}", a.kennzeichen or "") for a in akten)
    assert any(ch in (o.betreff or "") for o in objects for ch in "äöüß")
    assert all(a.laufzeit_begin and a.laufzeit_end and a.laufzeit_begin <= a.laufzeit_end for a in akten)
    assert sum(src.size for src in generated.files.values()) == 3_000_000
    assert len(generated.files) == len(generated.message.primary_documents())
    for name, src in generated.files.items():
        data = b"".join(src.chunks())
        assert len(data) == src.size
        suffix = Path(name).suffix
        if src.size >= 64:
            assert data.startswith(MAGIC[suffix]), name
        if suffix in (".txt", ".xml"):
            data.decode("utf-8")


@pytest.mark.parametrize("version", ["3.0.0", "3.1.0", "4.0.0"])
@pytest.mark.parametrize("code", ["0101", "0401", "0501", "0503", "0402", "0502", "0505", "0506"])
def test_every_generated_kind_is_valid(
    version: str, code: str, tmp_path: Path, registry: SchemaRegistry, validator: Validator
) -> None:
    path = generate_to(tmp_path, version=version, message_type=code, documents=25, size=200_000, registry=registry)
    report = validator.validate_path(path).report
    assert report.valid, [f.message for f in report.errors]
    assert report.message_type == code
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            assert f"{path.stem}.xml" in zf.namelist()
            assert sum(i.file_size for i in zf.infolist() if i.filename != f"{path.stem}.xml") == 200_000


def test_cli_writes_count_messages(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "generate",
            "--version",
            "4.0.0",
            "--type",
            "0503",
            "--documents",
            "5",
            "--size",
            "20KiB",
            "--count",
            "3",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) == 3 and all(n.endswith("_0503_1.zip") for n in written)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("XGW_SLOW_TESTS") != "1", reason="set XGW_SLOW_TESTS=1 for multi-GiB tests")
def test_multi_gib_package_streams(tmp_path: Path, registry: SchemaRegistry) -> None:
    import resource

    size = 5 << 30  # past 4 GiB: entry offsets need ZIP64
    path = generate_to(tmp_path, version="3.0.0", message_type="0503", documents=2000, size=size, registry=registry)
    with zipfile.ZipFile(path) as zf:
        assert sum(i.file_size for i in zf.infolist()) > size
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert peak_kib < 512 * 1024, f"peak RSS {peak_kib} KiB: the package was held in memory"


def test_cli_defaults_make_what_the_demo_accepts(tmp_path: Path, validator: Validator) -> None:
    """From the demo district to the state archive, named as in the demo directory, in a version x-man reads."""
    from gateway.xoev.parsing.parse import parse_message

    result = CliRunner().invoke(cli, ["generate", "--size", "8KiB", "--documents", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    checked = validator.validate_path(Path(result.stdout.strip()))
    assert checked.report.valid, [f.message for f in checked.report.errors]
    assert checked.report.version == "3.1.0"
    assert checked.tree is not None
    kopf = parse_message(checked.tree).kopf
    assert (kopf.sender.xoev_identifier, kopf.sender.institution) == ("psw:16077000", "Landratsamt Altenburger Land")
    assert (kopf.recipient.xoev_identifier, kopf.recipient.institution) == ("lth:16000100", "Landesarchiv Thüringen")


@pytest.mark.parametrize("version", ["3.1.0", "4.0.0"])
def test_cli_takes_any_sender_and_recipient(tmp_path: Path, validator: Validator, version: str) -> None:
    from gateway.xoev.parsing.parse import parse_message

    args = ["generate", "--version", version, "--type", "0501", "--out", str(tmp_path)]
    parties = ["--sender", "psw:16055000", "--recipient", "xyz:42", "--recipient-name", "Archiv Beispielstadt"]
    result = CliRunner().invoke(cli, [*args, *parties])
    assert result.exit_code == 0, result.output
    checked = validator.validate_path(Path(result.stdout.strip()))
    assert checked.report.valid, [f.message for f in checked.report.errors]
    assert checked.tree is not None
    kopf = parse_message(checked.tree).kopf
    assert kopf.sender.xoev_identifier == "psw:16055000"
    assert kopf.sender.institution == "Stadtverwaltung Weimar"  # from the demo directory
    assert (kopf.recipient.xoev_identifier, kopf.recipient.institution) == ("xyz:42", "Archiv Beispielstadt")
    # a reply goes the other way: the archive confirms the district's offer
    reply = CliRunner().invoke(cli, [*args[:4], "0504", "--out", str(tmp_path / "reply"), *parties[:4]])
    assert reply.exit_code == 0, reply.output
    answered = validator.validate_path(Path(reply.stdout.strip()))
    assert answered.tree is not None
    assert parse_message(answered.tree).kopf.sender.xoev_identifier == "xyz:42"
    bad = CliRunner().invoke(cli, [*args, "--sender", "16077000"])
    assert bad.exit_code == 2
    assert "not an XÖV identifier" in bad.output


def test_cli_shows_progress_on_request_and_keeps_stdout_clean(tmp_path: Path) -> None:
    args = ["generate", "--size", "3MiB", "--documents", "4", "--count", "2", "--out", str(tmp_path)]
    quiet = CliRunner().invoke(cli, args)
    assert quiet.exit_code == 0, quiet.output
    assert "generating" not in quiet.stderr  # not a terminal, not asked for
    shown = CliRunner().invoke(cli, [*args, "--progress"])
    assert shown.exit_code == 0, shown.output
    assert [Path(line).suffix for line in shown.stdout.splitlines()] == [".zip", ".zip"]
    assert "generating 1/2" in shown.stderr
    assert "6.0 MiB of 6.0 MiB (100%)" in shown.stderr
    assert "verifying 2/2" in shown.stderr


def test_cli_without_a_schema_bundle_is_a_setup_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["generate", "--out", str(tmp_path / "out")], env={"XGW_SCHEMA_DIR": str(tmp_path / "nowhere")}
    )
    assert result.exit_code == 2, result.output
    assert "set XGW_SCHEMA_DIR" in result.stderr
    assert "Traceback" not in result.output
