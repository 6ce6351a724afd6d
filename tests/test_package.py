"""ZIP packages: the real samples pass, reads are capped and CRC-checked, extraction stays inside its folder,
and the layout and reference rules say what is missing, doubled or left over."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tracemalloc
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.xoev.limits import Limits
from gateway.xoev.report import Finding, Location, Severity
from gateway.xoev.validation.package import (
    MAX_FINDINGS_PER_RULE,
    PackageError,
    PackageScan,
    check_package_layout,
    check_references,
    expected_message_name,
    extract_to,
    open_entry,
    read_entry,
    scan_package,
)
from tests.conftest import SAMPLES
from tests.hostile_zips import (
    MESSAGE,
    PACKAGE,
    UUID,
    GiB,
    MiB,
    Raw,
    build,
    crc_of_zeros,
    deflated,
    honest,
    stored,
    write,
    zeros_deflated,
)

SAMPLE_ZIPS = sorted(SAMPLES.glob("*/*.zip"))
XML = b"<?xml version='1.0'?><m/>"


def rules(scan_or_findings: PackageScan | list[Finding]) -> list[str]:
    items = scan_or_findings.findings if isinstance(scan_or_findings, PackageScan) else scan_or_findings
    return sorted(f.rule for f in items)


def peak_memory(action: Callable[[], object]) -> int:
    """Peak bytes the Python allocator traced while ``action`` ran."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- the real samples --------------------------------------------------------------------------------------


def test_samples_are_there() -> None:
    assert len(SAMPLE_ZIPS) == 3


@pytest.mark.parametrize("path", SAMPLE_ZIPS, ids=lambda p: p.name)
def test_sample_package_passes_and_reads_like_zipfile(path: Path) -> None:
    scan = scan_package(path, Limits())
    assert scan.findings == []
    message, layout = check_package_layout(scan, path.name)
    assert layout == []
    assert message == path.name.removesuffix(".zip") + ".xml"
    with zipfile.ZipFile(path) as zf:
        assert [e.name for e in scan.entries] == zf.namelist()
        for entry in scan.files:
            assert read_entry(scan, entry.name, 10 * MiB) == zf.read(entry.name)
    others = [e.name for e in scan.files if e.name != message]
    assert check_references(scan, message, others) == []


def test_sample_extracts_to_a_folder(tmp_path: Path) -> None:
    path = SAMPLES / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.zip"
    scan = scan_package(path, Limits())
    out = extract_to(scan, tmp_path / "out")
    with zipfile.ZipFile(path) as zf:
        assert {n: p.read_bytes() for n, p in out.items()} == {n: zf.read(n) for n in zf.namelist()}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(out)  # no temporary files left


# --- structure that is unusual but fine --------------------------------------------------------------------


def test_cp437_name_without_utf8_flag_is_accepted(tmp_path: Path) -> None:
    path = honest(tmp_path, stored("Übersicht.pdf".encode("cp437"), b"%PDF"))
    scan = scan_package(path, Limits())
    assert scan.findings == []
    assert read_entry(scan, "Übersicht.pdf", 100) == b"%PDF"


def test_utf8_name_with_flag_is_accepted(tmp_path: Path) -> None:
    path = honest(tmp_path, stored("Prüfbericht.pdf", b"%PDF", flags=0x800))
    scan = scan_package(path, Limits())
    assert scan.findings == []
    assert scan.files[-1].name == "Prüfbericht.pdf"


def test_utf8_name_without_flag_as_info_zip_writes_it(tmp_path: Path) -> None:
    path = honest(tmp_path, stored("Prüfbericht.pdf".encode(), b"%PDF"))
    scan = scan_package(path, Limits())
    assert scan.findings == []
    assert scan.files[-1].name == "Prüfbericht.pdf"


def test_directories_are_allowed_but_not_files(tmp_path: Path) -> None:
    folder = stored("docs/", b"", external_attr=(stat.S_IFDIR | 0o755) << 16 | 0x10)
    path = honest(tmp_path, folder, stored("docs/a.pdf", b"%PDF"))
    scan = scan_package(path, Limits())
    assert scan.findings == []
    assert [e.name for e in scan.files] == [MESSAGE, "docs/a.pdf"]
    with pytest.raises(KeyError):
        read_entry(scan, "docs/", 10)
    assert (extract_to(scan, tmp_path / "out")["docs/a.pdf"]).read_bytes() == b"%PDF"


def test_streamed_zip_with_data_descriptors_is_read(tmp_path: Path) -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.data += b
            return len(b)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MESSAGE, XML)
        with zf.open("scan.tif", "w") as f:
            f.write(b"II*\x00" * 1000)
    path = write(tmp_path, bytes(sink.data))
    scan = scan_package(path, Limits())
    assert scan.findings == []
    assert read_entry(scan, "scan.tif", 4000) == b"II*\x00" * 1000


@pytest.mark.slow
def test_zip64_with_more_than_65535_entries(tmp_path: Path) -> None:
    count = 70_000
    entries = [stored(f"{i:05d}.txt", b"") for i in range(count)]
    path = write(tmp_path, build([deflated(MESSAGE, XML), *entries], zip64_end=True))
    with zipfile.ZipFile(path) as zf:  # the stdlib agrees that this is a valid ZIP64 archive
        assert len(zf.infolist()) == count + 1
    scan = scan_package(path, Limits())
    assert scan.findings == []
    assert len(scan.entries) == count + 1
    assert read_entry(scan, MESSAGE, 1000) == XML


def test_zip64_entry_declaring_more_than_4_gib(tmp_path: Path) -> None:
    size = 5 * GiB
    big = Raw("scan.tif", zeros_deflated(size), method=8, file_size=size, crc=0, zip64=True)
    path = write(tmp_path, build([deflated(MESSAGE, XML), big]))
    scan = scan_package(path, Limits(max_compression_ratio=2000))
    assert scan.findings == []
    assert scan.file("scan.tif").file_size == size
    assert scan.file("scan.tif").compressed_size > 0xFFFFFFFF // 1000
    with open_entry(scan, "scan.tif", size) as stream:
        assert stream.read(MiB) == bytes(MiB)


def test_zipfile_zip64_extras_are_understood(tmp_path: Path) -> None:
    path = tmp_path / PACKAGE
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MESSAGE, XML)
        with zf.open("a.pdf", "w", force_zip64=True) as f:
            f.write(b"%PDF" * 100)
    scan = scan_package(path, Limits())
    assert scan.findings == []
    assert read_entry(scan, "a.pdf", 400) == b"%PDF" * 100


# --- reading: caps, lies and CRC ---------------------------------------------------------------------------


def test_entry_larger_than_the_callers_cap_is_not_read(tmp_path: Path) -> None:
    scan = scan_package(honest(tmp_path, stored("a.pdf", b"x" * 100)), Limits())
    with pytest.raises(PackageError) as err:
        read_entry(scan, "a.pdf", 99)
    assert err.value.finding.rule == "XGW-IN-003"
    assert err.value.finding.location == Location(file=PACKAGE, entry="a.pdf")


def test_lying_size_cannot_inflate_beyond_what_it_declares(tmp_path: Path) -> None:
    bomb = Raw("small.pdf", zeros_deflated(256 * MiB), method=8, file_size=1000, crc=0)
    scan = scan_package(honest(tmp_path, bomb), Limits())
    assert scan.findings == []  # 1000 bytes declared: nothing to see in the directory

    def attempt() -> None:
        with pytest.raises(PackageError) as err:
            read_entry(scan, "small.pdf", 10 * MiB)
        assert err.value.finding.rule == "XGW-ZIP-012"
        assert "longer than the declared 1000 bytes" in err.value.finding.message

    assert peak_memory(attempt) < 2 * MiB


def test_streaming_a_large_entry_keeps_memory_flat(tmp_path: Path) -> None:
    size = 256 * MiB
    entry = Raw("scan.tif", zeros_deflated(size), method=8, file_size=size, crc=crc_of_zeros(size))
    scan = scan_package(honest(tmp_path, entry), Limits(max_compression_ratio=2000))
    assert scan.findings == []
    total = 0

    def stream_all() -> None:
        nonlocal total
        with open_entry(scan, "scan.tif", size) as stream:
            while chunk := stream.read(MiB):
                total += len(chunk)

    # Reading in 1 MiB pieces holds a few pieces at once, whatever the entry's size (here 256 MiB).
    assert peak_memory(stream_all) < 8 * MiB
    assert total == size


def test_crc_mismatch_is_found_at_the_end(tmp_path: Path) -> None:
    scan = scan_package(honest(tmp_path, stored("a.pdf", b"%PDF-1.7", crc=0x12345678)), Limits())
    assert scan.findings == []
    with pytest.raises(PackageError) as err:
        read_entry(scan, "a.pdf", 100)
    assert err.value.finding.rule == "XGW-ZIP-012"
    assert "CRC-32" in err.value.finding.message


def test_data_shorter_than_declared(tmp_path: Path) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    short = Raw("a.pdf", c.compress(b"x" * 1000) + c.flush(), method=8, file_size=2000, crc=0)
    scan = scan_package(honest(tmp_path, short), Limits())
    with pytest.raises(PackageError, match="ends after 1000 of the declared 2000 bytes"):
        read_entry(scan, "a.pdf", 5000)


def test_deflate_stream_cut_short(tmp_path: Path) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = c.compress(os.urandom(5000)) + c.flush()
    cut = Raw("a.pdf", data[: len(data) // 2], method=8, file_size=5000, crc=0)
    scan = scan_package(honest(tmp_path, cut), Limits())
    with pytest.raises(PackageError, match="ends before the end of the stream"):
        read_entry(scan, "a.pdf", 5000)


def test_garbage_instead_of_deflate(tmp_path: Path) -> None:
    scan = scan_package(honest(tmp_path, Raw("a.pdf", b"\xff" * 64, method=8, file_size=64, crc=0)), Limits())
    with pytest.raises(PackageError, match="deflate data is invalid"):
        read_entry(scan, "a.pdf", 5000)


def test_package_changed_after_the_scan(tmp_path: Path) -> None:
    path = honest(tmp_path, stored("a.pdf", b"%PDF"))
    scan = scan_package(path, Limits())
    path.write_bytes(path.read_bytes() + b"appended")
    with pytest.raises(PackageError, match="changed after it was checked"):
        read_entry(scan, "a.pdf", 100)


def test_refused_entries_are_not_read_but_others_are(tmp_path: Path) -> None:
    link = stored("link.pdf", b"/etc/passwd", external_attr=(stat.S_IFLNK | 0o777) << 16)
    scan = scan_package(honest(tmp_path, link), Limits())
    assert rules(scan) == ["XGW-ZIP-004"]
    with pytest.raises(PackageError) as err:
        read_entry(scan, "link.pdf", 100)
    assert err.value.finding.rule == "XGW-ZIP-004"
    assert read_entry(scan, MESSAGE, 1000).startswith(b"<?xml")


def test_duplicates_refuse_both_copies(tmp_path: Path) -> None:
    scan = scan_package(honest(tmp_path, stored("a.pdf", b"1"), stored("a.pdf", b"2")), Limits())
    assert rules(scan) == ["XGW-ZIP-003"]
    assert "a.pdf" in scan.refused
    with pytest.raises(PackageError):
        read_entry(scan, "a.pdf", 10)


def test_findings_per_rule_are_capped_but_every_entry_is_refused(tmp_path: Path) -> None:
    links = [stored(f"{i}.pdf", b"x", external_attr=(stat.S_IFLNK | 0o777) << 16) for i in range(150)]
    scan = scan_package(honest(tmp_path, *links), Limits())
    assert rules(scan) == ["XGW-ZIP-004"] * MAX_FINDINGS_PER_RULE
    assert len(scan.refused) == 150


def test_unreadable_path(tmp_path: Path) -> None:
    scan = scan_package(tmp_path / "missing.zip", Limits())
    assert rules(scan) == ["XGW-IN-001"]


def test_display_name_is_used_in_findings(tmp_path: Path) -> None:
    path = write(tmp_path, b"not a zip at all, just some words", "spool-0001")
    scan = scan_package(path, Limits(), display_name="from-authority.zip")
    assert scan.findings[0].location.file == "from-authority.zip"


# --- extraction --------------------------------------------------------------------------------------------


def test_extract_does_not_follow_a_symlink_out_of_the_target(tmp_path: Path) -> None:
    scan = scan_package(honest(tmp_path, stored("docs/a.pdf", b"%PDF")), Limits())
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "docs").symlink_to(outside)
    with pytest.raises(PackageError) as err:
        extract_to(scan, dest)
    assert err.value.finding.rule == "XGW-ZIP-002"
    assert list(outside.iterdir()) == []


def test_extract_never_replaces_existing_files(tmp_path: Path) -> None:
    scan = scan_package(honest(tmp_path, stored("a.pdf", b"%PDF")), Limits())
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a.pdf").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        extract_to(scan, dest)
    assert (dest / "a.pdf").read_bytes() == b"mine"


def test_extract_leaves_no_partial_file_on_corrupt_data(tmp_path: Path) -> None:
    scan = scan_package(honest(tmp_path, stored("a.pdf", b"%PDF-1.7", crc=1)), Limits())
    dest = tmp_path / "out"
    with pytest.raises(PackageError, match="CRC-32"):
        extract_to(scan, dest)
    assert sorted(p.name for p in dest.iterdir()) == [MESSAGE]


# --- layout: which entry is the message --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        (f"{UUID}_0503_1.zip", f"{UUID}_0503_1.xml"),
        (f"{UUID}_0503_1.ZIP", f"{UUID}_0503_1.xml"),
        (f"{UUID}_0503_1.xdomea", f"{UUID}_0503_1.xml"),
        (f"/spool/in/{UUID}_0503_1.zip", f"{UUID}_0503_1.xml"),
        ("upload", "upload.xml"),
    ],
)
def test_expected_message_name(package: str, expected: str) -> None:
    assert expected_message_name(package) == expected


def test_message_found_for_xdomea_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, build([deflated(MESSAGE, XML)]), PACKAGE.replace(".zip", ".xdomea"))
    assert check_package_layout(scan_package(path, Limits()), path.name) == (MESSAGE, [])


def test_message_missing(tmp_path: Path) -> None:
    scan = scan_package(write(tmp_path, build([stored("a.pdf", b"%PDF")])), Limits())
    message, found = check_package_layout(scan, PACKAGE)
    assert message is None
    assert rules(found) == ["XGW-ZIP-008"]
    assert MESSAGE in found[0].message


def test_message_in_a_folder_does_not_count(tmp_path: Path) -> None:
    scan = scan_package(write(tmp_path, build([deflated("sub/" + MESSAGE, XML)])), Limits())
    assert check_package_layout(scan, PACKAGE)[0] is None


def test_misnamed_message_is_still_returned_with_an_error(tmp_path: Path) -> None:
    other = f"{UUID}_0503_1.xml"
    scan = scan_package(write(tmp_path, build([deflated(other, XML)])), Limits())
    message, found = check_package_layout(scan, PACKAGE)
    assert message == other
    assert rules(found) == ["XGW-ZIP-008"]


def test_two_message_xmls(tmp_path: Path) -> None:
    second = f"{UUID}_Aussonderung.Anbieteverzeichnis.0501.xml"
    scan = scan_package(write(tmp_path, build([deflated(MESSAGE, XML), deflated(second, XML)])), Limits())
    message, found = check_package_layout(scan, PACKAGE)
    assert message == MESSAGE
    assert rules(found) == ["XGW-ZIP-014"]
    assert MESSAGE in found[0].message and second in found[0].message


def test_primary_document_named_like_a_uuid_is_not_a_second_message(tmp_path: Path) -> None:
    doc = f"{UUID}_Bauantrag.xml"
    scan = scan_package(write(tmp_path, build([deflated(MESSAGE, XML), deflated(doc, XML)])), Limits())
    assert check_package_layout(scan, PACKAGE) == (MESSAGE, [])


# --- references: Primaerdokument/Dateiname against the files ------------------------------------------------


def _package(tmp_path: Path, *names: str) -> PackageScan:
    return scan_package(honest(tmp_path, *(stored(n, b"x", flags=0x800) for n in names)), Limits())


def test_all_referenced_once(tmp_path: Path) -> None:
    scan = _package(tmp_path, "a.pdf", "docs/b.tif")
    assert check_references(scan, MESSAGE, ["a.pdf", "docs/b.tif"]) == []


def test_missing_reference_points_at_the_dateiname(tmp_path: Path) -> None:
    scan = _package(tmp_path, "a.pdf")
    where = {"b.pdf": Location(line=12, xpath="/xdomea:Aussonderung.Aussonderung.0503/Schriftgutobjekt[1]")}
    found = check_references(scan, MESSAGE, ["a.pdf", "b.pdf"], where)
    assert rules(found) == ["XGW-ZIP-009"]
    assert found[0].location == Location(file=PACKAGE, entry=MESSAGE, line=12, xpath=where["b.pdf"].xpath)


def test_reference_twice(tmp_path: Path) -> None:
    scan = _package(tmp_path, "a.pdf")
    found = check_references(scan, MESSAGE, ["a.pdf", "./a.pdf"], lambda name: Location(line=len(name)))
    assert rules(found) == ["XGW-ZIP-010"]
    assert "2 times" in found[0].message
    assert found[0].location.line == len("a.pdf")


def test_unreferenced_file_is_a_warning(tmp_path: Path) -> None:
    scan = _package(tmp_path, "a.pdf", "extra.pdf")
    found = check_references(scan, MESSAGE, ["a.pdf"])
    assert rules(found) == ["XGW-ZIP-011"]
    assert found[0].severity is Severity.WARNING
    assert found[0].location == Location(file=PACKAGE, entry="extra.pdf")


@pytest.mark.parametrize(
    "reference",
    ["docs/Übersicht.pdf", "docs\\Übersicht.pdf", "./docs/Übersicht.pdf", " docs/Übersicht.pdf ", "Übersicht.pdf"],
)
def test_reference_forms_that_match(tmp_path: Path, reference: str) -> None:
    scan = _package(tmp_path, "docs/Übersicht.pdf")
    assert check_references(scan, MESSAGE, [unicodedata.normalize("NFD", reference)]) == []


def test_bare_name_matching_two_folders_is_not_guessed(tmp_path: Path) -> None:
    scan = _package(tmp_path, "a/x.pdf", "b/x.pdf")
    assert rules(check_references(scan, MESSAGE, ["x.pdf"])) == ["XGW-ZIP-009", "XGW-ZIP-011", "XGW-ZIP-011"]


def test_names_are_case_sensitive(tmp_path: Path) -> None:
    scan = _package(tmp_path, "A.pdf")
    assert rules(check_references(scan, MESSAGE, ["a.pdf"])) == ["XGW-ZIP-009", "XGW-ZIP-011"]


# --- archives written by real tools ------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP zip is not installed")
@pytest.mark.parametrize(
    "options", [[], ["-fz"], ["-0"], ["-fd"], ["-z"]], ids=["plain", "zip64", "stored", "descriptor", "comment"]
)
def test_info_zip_archives_pass(tmp_path: Path, options: list[str]) -> None:
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / MESSAGE).write_bytes(XML)
    (src / "docs" / "Über sicht.pdf").write_bytes(b"%PDF-1.7\n" * 500)
    (src / "docs" / "scan.tif").write_bytes(os.urandom(3000))
    target = tmp_path / PACKAGE
    cmd = ["zip", "-r", "-q", "-X" if options == ["-fd"] else "-y", *[o for o in options if o != "-fd"]]
    if options == ["-fd"]:  # streamed into a pipe: zip cannot seek back, so entries carry data descriptors
        piped = subprocess.run([*cmd, "-", MESSAGE, "docs"], cwd=src, stdout=subprocess.PIPE, check=True)
        target.write_bytes(piped.stdout)
        assert b"PK\x07\x08" in piped.stdout
    else:
        subprocess.run([*cmd, str(target), MESSAGE, "docs"], cwd=src, check=True, input=b"a comment\n.\n")
    scan = scan_package(target, Limits())
    assert scan.findings == []
    assert check_package_layout(scan, target.name) == (MESSAGE, [])
    assert check_references(scan, MESSAGE, ["docs/Über sicht.pdf", "scan.tif"]) == []
    out = extract_to(scan, tmp_path / "out")
    assert {n: p.read_bytes() for n, p in out.items()} == {
        n: (src / n).read_bytes() for n in (MESSAGE, "docs/Über sicht.pdf", "docs/scan.tif")
    }
