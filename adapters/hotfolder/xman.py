"""The hotfolder preset for x-man, the Landesarchiv Thüringen's archive software, as the counterpart.

x-man (github.com/Landesarchiv-Thueringen/x-man) exchanges xdomea through one transfer directory per
submitting agency; docs/adapters.md ("x-man") lists what its source says, with file references. What this
module does because of it:

* a message for the archive goes into the transfer directory of the authority that sent it (x-man credits
  everything in a directory to its one agency), as the ZIP ``<ProzessID>_<Nachrichtentyp>.zip`` (x-man
  reads ZIP packages only; a bare XML message is wrapped), and only in the versions and types x-man reads
  (2.3.0 to 3.1.0; 0501, 0503, 0505). Anything else is refused with the reason, never written where x-man
  would file it as an unknown file;
* it is written in a staging folder *beside* the transfer directories and renamed into place: x-man's
  name patterns are not anchored, so ``.<name>.zip.part`` inside a scanned directory would be taken
  half-written, and any other name there is reported to the archive as an unknown file;
* x-man's answers (0502, 0504, 0506, 0507 in their per-type subfolders) are offered once their size and
  modification time held still across two polls, because x-man writes them in place, not by rename; each
  is taken once (the ledger keeps its hash) and left where it is: x-man deletes its own files, and the
  agency's, when it deletes the finished Aussonderung;
* the import result says ``handed-over``, never ``imported``: x-man confirms the import itself (0506), so
  the gateway must not build a confirmation from it.
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.base import (
    Acknowledgement,
    AdapterError,
    Check,
    ConfigError,
    ExportedFile,
    Health,
    ImportResult,
    ImportStatus,
    Unavailable,
)
from adapters.hotfolder.adapter import HotfolderAdapter
from adapters.hotfolder.storage import join
from adapters.inbound import file_sha256, read_inbound, refused
from gateway.xoev.build.naming import message_stem
from gateway.xoev.parsing.parse import parse_message
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml

log = logging.getLogger(__name__)

#: the xdomea versions x-man reads (server/internal/core/init.go, XdomeaVersions)
XMAN_VERSIONS = ("2.3.0", "2.4.0", "3.0.0", "3.1.0")
#: the message types x-man takes from a transfer directory (server/internal/core/util.go, isMessage)
XMAN_READS = ("0501", "0503", "0505")
#: x-man's answer names: ProzessID, the 2.x/3.x element or nothing, the type, .zip or .xdomea (anchored here)
ANSWER_NAME = re.compile(
    r"^(?P<process>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"_(?:Aussonderung\.[A-Za-z]+\.)?(?P<code>050[2467])\.(?:zip|xdomea)$"
)


class XmanAdapter(HotfolderAdapter):
    """The archive's side of x-man's transfer directories; one adapter serves every district's directory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: answers taken (or refused) and unchanged since: not offered again while they stay as they are
        self._done: dict[str, tuple[int, str]] = {}

    def _folders(self) -> list[tuple[str, str]]:
        return [(authority, self.config.transfer_dir(authority) or "") for authority in self.config.transfer_dirs]

    # -- x-man's answers -> the gateway ---------------------------------------------------------------

    def export(self) -> Iterator[ExportedFile]:
        """One poll: the answers that held still since the previous poll and were not taken before."""
        now = self._clock()
        seen: dict[str, tuple[tuple[int, str], float]] = {}
        stable: list[tuple[str, str]] = []
        done = self._done
        still: dict[str, tuple[int, str]] = {}
        for authority, folder in self._folders():
            for sub in self.config.answer_dirs.values():
                answers = join(folder, sub)
                for entry in self.storage.list(answers):
                    if entry.is_dir or entry.size == 0 or not ANSWER_NAME.match(entry.name):
                        continue
                    path = join(answers, entry.name)
                    observed = (entry.size, entry.stamp)
                    if done.get(path) == observed:
                        still[path] = observed
                        continue
                    before = self._seen.get(path)
                    if before is None or before[0] != observed:
                        seen[path] = (observed, now)
                        continue
                    seen[path] = before
                    if now - before[1] >= self.config.poll_interval:
                        stable.append((path, authority))
        self._seen = seen
        self._done = still  # forget what x-man deleted
        self._clear_spool(keep=set())
        for path, authority in stable:
            offered = self._offer_answer(path, authority)
            if offered is not None:
                yield offered

    def _offer_answer(self, path: str, authority: str) -> ExportedFile | None:
        local = self.storage.local_path(path)
        if local is None:
            local = self._spool_path(path)
            self.storage.download(path, local)
        try:
            digest = file_sha256(local)
        except FileNotFoundError:  # x-man deleted it between listing and reading
            return None
        observed = self._seen[path][0]
        if self.ledger.exported(digest) is not None:
            self._done[path] = observed  # taken before (the gateway restarted): left for x-man to delete
            self._drop_spool(path)
            return None
        addressee = self._addressee(local)
        if addressee is not None and addressee != authority:
            # the directory says whom x-man answers; a file addressed to another authority does not belong here
            log.warning(
                "x-man answer %s in %s is addressed to %s, not to %s whose transfer directory it is in: not taken",
                path,
                self.storage.describe(),
                addressee,
                authority,
            )
            self._done[path] = observed
            self._drop_spool(path)
            return None
        source = local
        name = path.rpartition("/")[2]
        return ExportedFile(name, local.stat().st_size, path, digest, lambda: source.open("rb"))

    def _addressee(self, local: Path) -> str | None:
        """The Empfaenger's Behördenkennung of an answer, or None when it cannot be read here (intake
        then refuses the file with the precise reason)."""
        limits = self.context.settings.limits
        try:
            with zipfile.ZipFile(local) as archive:
                entries = [i for i in archive.infolist() if i.filename.endswith(".xml")]
                if len(entries) != 1 or entries[0].file_size > limits.max_xml_bytes:
                    return None
                with archive.open(entries[0]) as fh:
                    data = fh.read(limits.max_xml_bytes + 1)
            message = parse_message(parse_xml(data, limits))
        except (zipfile.BadZipFile, OSError, ValueError, XmlRejected):
            return None
        recipient = message.kopf.recipient
        return recipient.xoev_identifier if recipient is not None else None

    def acknowledge(self, file: ExportedFile, ack: Acknowledgement) -> None:
        """Remember the verdict; the file stays where x-man put it (x-man deletes it with the process)."""
        if ack.accepted:
            self.ledger.record_export(file.sha256, file.name, ack.reference)
        else:
            log.warning(
                "x-man answer %s in %s refused by the gateway (taken again after a restart): %s",
                file.key,
                self.storage.describe(),
                ack.reason,
            )
        before = self._seen.pop(file.key, None)
        if before is not None:
            self._done[file.key] = before[0]
        self._drop_spool(file.key)

    # -- the gateway -> x-man ---------------------------------------------------------------------------

    def import_message(self, package_path: Path, *, filename: str | None = None) -> ImportResult:
        return self.import_message_from(package_path, filename=filename)

    def import_message_from(
        self, package_path: Path, *, filename: str | None = None, sender: str | None = None
    ) -> ImportResult:
        inbound = read_inbound(self.validator, package_path, filename)
        if isinstance(inbound, ImportResult):
            return inbound
        msg, key = inbound.message, inbound.key
        if msg.version not in XMAN_VERSIONS:
            return refused(
                inbound,
                f"x-man reads xdomea {XMAN_VERSIONS[0]} to {XMAN_VERSIONS[-1]} only, this message is {msg.version}: "
                "the sender must send this archive one of those versions",
            )
        if key.message_type not in XMAN_READS:
            return refused(
                inbound, f"x-man takes {', '.join(XMAN_READS)} from a transfer directory, not {key.message_type}"
            )
        authority = sender or (msg.kopf.sender.xoev_identifier if msg.kopf.sender else None)
        folder = self.config.transfer_dir(authority) if authority else None
        if folder is None:
            # a configuration gap, not the message's fault: retried until the archive adds the directory
            raise ConfigError(
                f"adapter_config of {self.context.participant}: transfer_dirs has no transfer directory for "
                f"{authority or 'a sender without Behördenkennung'}; x-man needs one per submitting agency"
            )
        record = self.ledger.import_record(key)
        if record is not None and record.state == "done":
            return self._duplicate(inbound, record.target)
        if not self.storage.exists(folder):
            # never created here: a directory x-man does not watch would swallow the message unread
            raise Unavailable(
                f"the transfer directory {join(self.storage.describe(), folder)} of {authority} does not exist "
                "(not mounted, or transfer_dirs does not match x-man's settings); nothing written"
            )
        stem = message_stem(msg)
        final = stem + ".zip"
        stage_name = folder.replace("/", "~") + "~" + final
        if inbound.is_package:
            return self._write_once(
                inbound,
                package_path,
                folder,
                final,
                staging=self.config.staging,
                status=ImportStatus.HANDED_OVER,
                stage_name=stage_name,
            )
        wrapped = self.spool / (stem + ".wrap.zip")
        try:
            with zipfile.ZipFile(wrapped, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.write(package_path, arcname=stem + ".xml")
            return self._write_once(
                inbound,
                wrapped,
                folder,
                final,
                staging=self.config.staging,
                status=ImportStatus.HANDED_OVER,
                stage_name=stage_name,
            )
        finally:
            wrapped.unlink(missing_ok=True)

    # -- health -------------------------------------------------------------------------------------------

    def health(self) -> Health:
        checks = []
        for authority, folder in self._folders():
            try:
                if not self.storage.exists(folder):
                    raise AdapterError(f"{join(self.storage.describe(), folder)} does not exist (x-man creates none)")
                self.storage.list(folder)
                checks.append(Check(f"transfer directory of {authority}", True, join(self.storage.describe(), folder)))
            except AdapterError as exc:
                checks.append(Check(f"transfer directory of {authority}", False, str(exc)))
        try:
            self.storage.ensure_dir(self.config.staging)
            checks.append(Check("staging", True, join(self.storage.describe(), self.config.staging)))
        except AdapterError as exc:
            checks.append(Check("staging", False, str(exc)))
        try:
            self.ledger.exported("0" * 64)
            checks.append(Check("ledger", True, str(self.ledger.path or "in memory")))
        except Exception as exc:  # a broken ledger file must show here, not crash the health page
            checks.append(Check("ledger", False, f"{type(exc).__name__}: {exc}"))
        return Health.of(*checks)
