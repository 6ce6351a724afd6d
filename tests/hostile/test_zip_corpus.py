"""Every hostile package of the corpus is refused with its rule, from the directory alone, in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from gateway.xoev.rules import RULES
from gateway.xoev.validation.package import PackageError, extract_to, read_entry, scan_package
from tests.hostile_zips import CASES, MiB

#: Scanning reads headers only: at most the 64 KiB tail, one record and the entry list at a time.
SCAN_MEMORY = 1 * MiB


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_hostile_package_is_refused(case_id: str, tmp_path: Path) -> None:
    case = CASES[case_id]
    inbox = tmp_path / "in"
    inbox.mkdir()
    path = case.build(inbox)

    tracemalloc.start()
    try:
        scan = scan_package(path, case.limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert {f.rule for f in scan.errors} == case.rules, [f.message for f in scan.findings]
    assert peak < SCAN_MEMORY
    for item in scan.findings:
        assert item.rule in RULES
        assert item.location.file == path.name
        assert "{" not in item.message and "{" not in item.message_de
    for name in scan.refused:
        if any(e.name == name and not e.is_dir for e in scan.entries):
            with pytest.raises(PackageError):
                read_entry(scan, name, 10 * MiB)
    out = tmp_path / "out"
    with pytest.raises(PackageError):
        extract_to(scan, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["in", path.name])


def test_corpus_covers_every_structural_zip_rule() -> None:
    covered = set().union(*(c.rules for c in CASES.values()))
    expected = {f"XGW-ZIP-00{i}" for i in range(1, 8)} | {"XGW-ZIP-012", "XGW-ZIP-013", "XGW-IN-002"}
    assert expected <= covered
