"""Packages hold exactly the message XML and the files it references, and pass the package validator."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from gateway.xoev.build import BuildError, ChunkSource, write_package
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.validate import Validator
from tests.build.models import PRIMARY_FILES, PROCESS_ID, message
from tests.conftest import SAMPLES


@pytest.mark.parametrize(("version", "stem"), [
    ("3.0.0", f"{PROCESS_ID}_Aussonderung.Aussonderung.0503"),
    ("3.1.0", f"{PROCESS_ID}_Aussonderung.Aussonderung.0503"),
    ("4.0.0", f"{PROCESS_ID}_0503_1"),
])  # fmt: skip
def test_package_contains_exactly_xml_and_referenced_files(
    version: str, stem: str, tmp_path: Path, registry: SchemaRegistry, validator: Validator
) -> None:
    pdf = tmp_path / "source.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + os.urandom(3000))
    files = {PRIMARY_FILES[0]: pdf, PRIMARY_FILES[1]: ChunkSource(11, lambda: iter([b"Hallo ", b"Welt!"]))}
    out = tmp_path / "out"

    package = write_package(message(version, "0503"), out, files, registry=registry)

    assert package.path == out / f"{stem}.zip"
    assert package.report is not None and package.report.valid
    assert validator.validate_path(package.path).report.valid
    with zipfile.ZipFile(package.path) as zf:
        assert sorted(zf.namelist()) == sorted([f"{stem}.xml", *PRIMARY_FILES])
        assert zf.read(PRIMARY_FILES[0]) == pdf.read_bytes()
        assert zf.read(PRIMARY_FILES[1]) == b"Hallo Welt!"
        assert zf.getinfo(PRIMARY_FILES[0]).compress_type == zipfile.ZIP_STORED
        assert zf.getinfo(PRIMARY_FILES[1]).compress_type == zipfile.ZIP_DEFLATED
        back = parse_message(etree.fromstring(zf.read(f"{stem}.xml")).getroottree())
    assert back.kopf.process_id == PROCESS_ID
    assert sorted(os.listdir(out)) == [f"{stem}.zip"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({PRIMARY_FILES[0]: b"x"}, "no content for"),
        (
            {PRIMARY_FILES[0]: b"x", PRIMARY_FILES[1]: b"y", "9b2f0c4e-1111-4aaa-8bbb-123456789abc.pdf": b"z"},
            "unreferenced",
        ),
    ],
)
def test_files_not_matching_the_references_are_refused(
    files: dict[str, bytes], reason: str, tmp_path: Path, registry: SchemaRegistry
) -> None:
    with pytest.raises(BuildError, match=reason):
        write_package(message("3.0.0", "0503"), tmp_path, dict(files), registry=registry)
    assert list(tmp_path.iterdir()) == []


def test_source_lying_about_its_size_is_refused(tmp_path: Path, registry: SchemaRegistry) -> None:
    files = {PRIMARY_FILES[0]: ChunkSource(5, lambda: iter([b"123456"])), PRIMARY_FILES[1]: b"ok"}
    with pytest.raises(BuildError, match="more than its declared"):
        write_package(message("4.0.0", "0503"), tmp_path, files, registry=registry)
    assert list(tmp_path.iterdir()) == []


def test_sample_0503_4_0_0_repackaged_with_its_declared_hash(tmp_path: Path, registry: SchemaRegistry) -> None:
    stem = "518c7c31-d1a0-11ef-accb-005056871b7c_0503_1"
    with zipfile.ZipFile(SAMPLES / "4.0.0" / f"{stem}.zip") as zf:
        msg = parse_message(etree.fromstring(zf.read(f"{stem}.xml")).getroottree())
        (primary,) = msg.primary_documents()
        content = zf.read(primary.filename)
    assert primary.hash_value
    package = write_package(msg, tmp_path, {primary.filename: content}, registry=registry)
    with zipfile.ZipFile(package.path) as zf:
        assert sorted(zf.namelist()) == sorted([f"{stem}.xml", primary.filename])
    with pytest.raises(BuildError, match="SHA-256"):
        write_package(msg, tmp_path / "again", {primary.filename: content + b"!"}, registry=registry)
    assert not (tmp_path / "again").exists() or list((tmp_path / "again").iterdir()) == []
