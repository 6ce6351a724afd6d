"""x-man's side of its transfer directories, simulated from the facts in docs/adapters.md ("x-man").

Our own code (x-man is GPL: facts, not code). What it does is what x-man's source says it does, and
it is strict where x-man would misbehave, so that a test against it fails where x-man would:

* each agency has one transfer directory; x-man lists its top level only. A name matching x-man's
  **unanchored** patterns (``<uuid>_(<element>.)?0501|0503|0505.(zip|xdomea)`` found anywhere in the name)
  is read; x-man would read a ``.<name>.zip.part`` half-written, so a match that is not exactly such a name,
  or a file that is not a complete ZIP, is recorded in :attr:`XmanSim.half_read`. Any other file or
  folder (except ``.gitkeep`` and the answer folders) is an "unknown file" (:attr:`XmanSim.unknown`), which
  x-man reports to its administrators. Every read name is remembered and never read again (x-man's
  ``transfer_files`` collection); the file stays where it is.
* the ZIP must hold ``<ProzessID>_<element or type>.xml`` in xdomea 2.3.0 to 3.1.0 (else :attr:`refused`).
* it answers as x-man does, in the version of the message and the naming and extension of the file it read,
  as a ZIP holding one XML file, written in place (not by rename) into the agency's answer folders:
  0501 -> 0504 and (the archivist's appraisal, here at once) 0502; 0503 -> 0507 (3.0.0 and later) and 0506
  (after archiving, here at once); 0505 -> nothing. The Absender is the archive's Institution only (x-man's
  ``INSTITUTION_NAME``/``INSTITUTION_ABBREVIATION``), the Empfaenger the read message's Absender; with
  ``with_kennung`` the Absender is the archive's Behördenkennung instead (what x-man does not do, for the
  gateway's side of the test before intake identifies a sender by its channel).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from gateway.xoev.build import build_receipt, serialize
from gateway.xoev.limits import Limits
from gateway.xoev.model import Message, Party, SendingSystem
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import parse_xml

UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: x-man's read patterns (server/internal/core/util.go): not anchored, matched anywhere in the name
READ = {
    "0501": re.compile(UUID + r"_(Aussonderung\.Anbieteverzeichnis\.)?0501\.(zip|xdomea)"),
    "0503": re.compile(UUID + r"_(Aussonderung\.Aussonderung\.)?0503\.(zip|xdomea)"),
    "0505": re.compile(UUID + r"_(Aussonderung\.BewertungEmpfangBestaetigen\.)?0505\.(zip|xdomea)"),
}
#: the suffix of x-man's answers, before 4.0.0 naming and short (util.go, MessageSuffixByType)
SUFFIX = {
    "0502": ("_Aussonderung.Bewertungsverzeichnis.0502", "_0502"),
    "0504": ("_Aussonderung.AnbietungEmpfangBestaetigen.0504", "_0504"),
    "0506": ("_Aussonderung.AussonderungImportBestaetigen.0506", "_0506"),
    "0507": ("_Aussonderung.AussonderungEmpfangBestaetigen.0507", "_0507"),
}
READ_SUFFIX = {
    "0501": ("_Aussonderung.Anbieteverzeichnis.0501", "_0501"),
    "0503": ("_Aussonderung.Aussonderung.0503", "_0503"),
    "0505": ("_Aussonderung.BewertungEmpfangBestaetigen.0505", "_0505"),
}
VERSIONS = ("2.3.0", "2.4.0", "3.0.0", "3.1.0")
NAMESPACE = re.compile(r"^urn:xoev-de:xdomea:schema:([0-9]\.[0-9]\.[0-9])$")
ANSWERS = {"0501": ("0504", "0502"), "0503": ("0507", "0506"), "0505": ()}


@dataclass
class Agency:
    """One agency as x-man's administrators configure it: its transfer directory and answer folders."""

    authority: str
    root: Path
    folders: dict[str, str] = field(default_factory=lambda: {c: c for c in SUFFIX})


@dataclass
class XmanSim:
    agencies: list[Agency]
    institution: str = "Landesarchiv Thüringen"
    abbreviation: str = "LATh"
    with_kennung: bool = False
    #: messages read: (authority, file name, type, ProzessID)
    read: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: answers written: (authority, path relative to the transfer directory)
    written: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    half_read: list[tuple[str, str, str]] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    #: x-man's transfer_files: names read or written per agency, never read again
    known: dict[str, set[str]] = field(default_factory=dict)

    def scan(self) -> int:
        """One pass of x-man's watch loop over every agency; returns how many messages were read."""
        count = 0
        for agency in self.agencies:
            known = self.known.setdefault(agency.authority, set())
            for item in sorted(agency.root.iterdir()):
                name = item.name
                if name in known or name == ".gitkeep" or (item.is_dir() and name in agency.folders.values()):
                    continue
                code = next((c for c, p in READ.items() if p.search(name)), None)
                if item.is_dir() or code is None:
                    if (agency.authority, name) not in self.unknown:
                        self.unknown.append((agency.authority, name))
                    continue
                known.add(name)
                count += self._read(agency, item, code)
        return count

    def _read(self, agency: Agency, item: Path, code: str) -> int:
        name = item.name
        exact = re.fullmatch(READ[code].pattern, name)
        if exact is None:
            self.half_read.append((agency.authority, name, "x-man reads this name although it is not a message's"))
            return 0
        if not zipfile.is_zipfile(item):
            self.half_read.append((agency.authority, name, "not a complete ZIP"))
            return 0
        process_id = re.match(UUID, name)
        assert process_id is not None
        pid = process_id.group(0)
        long_form = exact.group(1) is not None
        extension = exact.group(2)
        with zipfile.ZipFile(item) as archive:
            names = set(archive.namelist())
            inner = next((pid + s + ".xml" for s in READ_SUFFIX[code] if pid + s + ".xml" in names), None)
            if inner is None:
                self.refused.append((agency.authority, name, f"message doesn't exist in the ZIP: {sorted(names)}"))
                return 0
            data = archive.read(inner)
        tree = parse_xml(data, Limits())
        version = NAMESPACE.match(etree.QName(tree.getroot()).namespace or "")
        if version is None or version.group(1) not in VERSIONS:
            self.refused.append((agency.authority, name, f"unsupported xdomea version: {version}"))
            return 0
        message = parse_message(tree)
        self.read.append((agency.authority, name, code, pid))
        for answer in ANSWERS[code]:
            if answer == "0507" and version.group(1) < "3.0.0":
                continue  # x-man has no 0507 before 3.0.0 (generator.go, Generate0507Message)
            self._answer(agency, message, answer, pid, long_form, extension)
        return 1

    def _answer(self, agency: Agency, message: Message, code: str, pid: str, long_form: bool, extension: str) -> None:
        sender = None
        if not self.with_kennung:
            sender = Party(institution=self.institution, institution_short=self.abbreviation)
        built = build_receipt(
            message,
            code,
            sender=sender,
            sending_system=SendingSystem(product="X-MAN", version="sim"),
            receipt_requested=code == "0502",
        )
        suffix = SUFFIX[code][0 if long_form else 1]
        folder = agency.root / agency.folders[code]
        target = folder / f"{pid}{suffix}.{extension}"
        staging = folder / f"{pid}{suffix}.build"
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{pid}{suffix}.xml", serialize(built.tree))
        # x-man creates the file in place and copies into it (transfer_dir.go, copyMessageToLocalFilesystem)
        with target.open("wb") as out:
            out.write(staging.read_bytes())
        staging.unlink()
        relative = f"{agency.folders[code]}/{target.name}"
        self.known.setdefault(agency.authority, set()).add(relative)
        self.written.append((agency.authority, relative))
