"""Package validation reads every file once: CRCs and the Primaerdokument hashes 4.0.0 declares."""

from __future__ import annotations

import zipfile
from pathlib import Path

from gateway.config import Settings
from gateway.xoev.schemas.registry import SchemaRegistry
from gateway.xoev.validation.validate import Validator

from .conftest import SAMPLES, SHARED

PACKAGE = SAMPLES / "4.0.0" / "518c7c31-d1a0-11ef-accb-005056871b7c_0503_1.zip"
PRIMARY = "8bcadd35-d27b-11ef-ab6c-005056871b7c.txt"


def _repack(tmp_path: Path, replace: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    target = tmp_path / PACKAGE.name
    with zipfile.ZipFile(PACKAGE) as src, zipfile.ZipFile(target, "w", method) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info)))
    return target


def test_declared_hash_is_checked(validator: Validator, tmp_path: Path) -> None:
    ok = validator.validate_path(_repack(tmp_path, {})).report
    assert ok.valid, ok.to_text()
    bad = validator.validate_path(_repack(tmp_path, {PRIMARY: b"tampered text"})).report
    assert [f.rule for f in bad.errors] == ["XGW-ZIP-015"]
    err = bad.errors[0]
    assert err.location.entry == PACKAGE.with_suffix(".xml").name
    assert err.location.xpath is not None
    assert err.location.xpath.endswith("xdomea:Primaerdokument/xdomea:Hash")
    assert "ebd6798571b4476ed77408a9e7d4dde5ed0d37e3a1c93c9426e86ef40cc0d69f" in err.message


def test_corrupt_entry_is_found(validator: Validator, tmp_path: Path) -> None:
    target = _repack(tmp_path, {PRIMARY: b"same length!!"}, method=zipfile.ZIP_STORED)
    data = bytearray(target.read_bytes())
    at = data.index(b"same length!!")
    data[at] ^= 0x01  # flip one bit of the stored content: the CRC no longer matches
    target.write_bytes(bytes(data))
    report = validator.validate_path(target).report
    assert "XGW-ZIP-012" in {f.rule for f in report.errors}, report.to_text()


def test_content_check_can_be_switched_off(registry: SchemaRegistry, tmp_path: Path) -> None:
    settings = Settings(schema_dir=SHARED, schema_cache_dir=None, verify_package_contents=False)
    report = Validator(registry, settings).validate_path(_repack(tmp_path, {PRIMARY: b"tampered text"})).report
    assert report.valid
