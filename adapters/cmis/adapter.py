"""The CMIS 1.1 Browser Binding adapter: records between the gateway and any CMIS repository.

enaio, d.velop, nscale, Alfresco, Nuxeo and others speak CMIS; one adapter reaches them all. Import and
export are in :mod:`~adapters.cmis.importer` and :mod:`~adapters.cmis.exporter`; this class wires them to
the contract, decides once per connection how the repository can hold xdomea (a secondary type or
``cmis:description``; CMIS versions or separate documents) and turns any CMIS refusal that escapes them
into an :class:`~adapters.base.AdapterError` naming the operation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError

from adapters.base import (
    Acknowledgement,
    AdapterContext,
    AdapterError,
    Check,
    ConfigError,
    DmsAdapter,
    ExportedFile,
    Health,
    ImportResult,
)
from adapters.cmis.client import CmisFault, CmisSession
from adapters.cmis.config import CmisConfig
from adapters.cmis.exporter import Exporter, ExportSettings, party
from adapters.cmis.importer import Importer
from adapters.cmis.properties import Store, check_secondary_type, load_cmis_mapping
from adapters.inbound import read_inbound
from adapters.ledger import Ledger
from adapters.mapping import Mapping as FieldMapping
from gateway.xoev.validation.validate import Validator

log = logging.getLogger(__name__)


class CmisAdapter(DmsAdapter):
    kind = "cmis"

    def __init__(
        self,
        session: CmisSession,
        config: CmisConfig,
        context: AdapterContext,
        *,
        mapping: FieldMapping,
        ledger: Ledger | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.context = context
        self.mapping = mapping
        self.validator = Validator(settings=context.settings)
        self.ledger = ledger or Ledger(context.state_dir / "ledger.sqlite3")
        self.spool = context.state_dir / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self._store: Store | None = None
        self._checkin: bool | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: AdapterContext) -> Self:
        try:
            cfg = CmisConfig.model_validate(dict(config))
        except ValidationError as exc:
            raise ConfigError.from_validation(exc, f"adapter_config of {context.participant}") from None
        password = context.env.get(cfg.password_env)
        if password is None:
            raise ConfigError(f"password_env: the environment variable {cfg.password_env} is not set")
        mapping = load_cmis_mapping(context.base_dir / cfg.mapping if cfg.mapping else None)
        session = CmisSession(
            cfg.url,
            username=cfg.username,
            password=password,
            repository_id=cfg.repository_id,
            timeout=cfg.timeout,
            verify=cfg.verify_tls,
            allow_http=cfg.allow_http,
            max_content_bytes=context.settings.limits.max_entry_bytes,
        )
        return cls(session, cfg, context, mapping=mapping)

    def close(self) -> None:
        self.session.close()
        self.ledger.close()

    # -- what the repository offers --------------------------------------------------------------------

    def store(self) -> Store:
        """Secondary-type properties where configured or available, else cmis:description."""
        if self._store is None:
            cfg = self.config
            if cfg.metadata == "description":
                self._store = Store.DESCRIPTION
            else:
                definition = self.session.type_definition(cfg.secondary_type)
                if cfg.metadata == "secondary" or definition is not None:
                    check_secondary_type(definition, self.mapping, cfg.secondary_type)
                    self._store = Store.SECONDARY
                else:
                    self._store = Store.DESCRIPTION
        return self._store

    def checkin_versions(self) -> bool:
        if self._checkin is None:
            if self.config.versions == "documents":
                self._checkin = False
            else:
                definition = self.session.type_definition(self.config.document_type)
                if definition is None:
                    raise ConfigError(f"document_type: the repository has no type {self.config.document_type!r}")
                versionable = bool(definition.get("versionable"))
                if self.config.versions == "checkin" and not versionable:
                    raise ConfigError(
                        f"versions: {self.config.document_type!r} is not versionable in this repository "
                        '(use versions = "documents" or "auto")'
                    )
                self._checkin = versionable
        return self._checkin

    def _importer(self) -> Importer:
        cfg = self.config
        return Importer(
            self.session,
            self.ledger,
            self.mapping,
            import_folder=cfg.import_folder,
            store=self.store(),
            secondary_type=cfg.secondary_type,
            folder_type=cfg.folder_type,
            document_type=cfg.document_type,
            checkin_versions=self.checkin_versions(),
            spool=self.spool,
        )

    def _exporter(self) -> Exporter:
        cfg = self.config
        if cfg.sender is None or cfg.recipient is None:
            raise ConfigError("sender/recipient: both are needed to export records as messages")
        options = ExportSettings(
            export_folder=cfg.export_folder,
            processed_folder=cfg.processed_folder,
            failed_folder=cfg.failed_folder,
            message_type=cfg.message_type,
            version=cfg.version,
            sender=party(cfg.sender, cfg.sender_name),
            recipient=party(cfg.recipient, cfg.recipient_name),
            secondary_type=cfg.secondary_type,
            checkin_versions=self.checkin_versions(),
        )
        return Exporter(self.session, self.ledger, self.mapping, options, self.context.settings, self.spool)

    # -- the contract ----------------------------------------------------------------------------------

    def export(self) -> Iterator[ExportedFile]:
        try:
            yield from self._exporter().offers()
        except CmisFault as fault:
            raise AdapterError(f"{self.session.describe()}: export: {fault}") from None

    def acknowledge(self, file: ExportedFile, ack: Acknowledgement) -> None:
        try:
            self._exporter().acknowledge(file, ack)
        except CmisFault as fault:
            raise AdapterError(f"{self.session.describe()}: acknowledge {file.name}: {fault}") from None

    def import_message(self, package_path: Path, *, filename: str | None = None) -> ImportResult:
        inbound = read_inbound(self.validator, package_path, filename)
        if isinstance(inbound, ImportResult):
            return inbound
        try:
            return self._importer().run(inbound)
        except CmisFault as fault:
            raise AdapterError(f"{self.session.describe()}: import {inbound.key}: {fault}") from None

    def health(self) -> Health:
        checks: list[Check] = []
        try:
            info = self.session.info()
            caps = info.get("capabilities") or {}
            checks.append(
                Check(
                    "repository",
                    True,
                    f"{self.session.describe()}: {info.get('repositoryId')} ({info.get('productName')} "
                    f"{info.get('productVersion')}, CMIS {info.get('cmisVersionSupported')}, "
                    f"query {caps.get('capabilityQuery')})",
                )
            )
        except AdapterError as exc:
            return Health.of(Check("repository", False, str(exc)))
        try:
            checks.append(Check("metadata", True, f"{self.store()} ({self.config.secondary_type})"))
            checks.append(Check("versions", True, "checkOut/checkIn" if self.checkin_versions() else "documents"))
            for label, path in (
                ("import folder", self.config.import_folder),
                ("export folder", self.config.export_folder),
            ):
                node = self.session.ensure_folder(path, self.config.folder_type)
                checks.append(Check(label, True, f"{path} ({node.id})"))
        except (AdapterError, CmisFault) as exc:
            checks.append(Check("repository setup", False, str(exc)))
        try:
            self.ledger.exported("0" * 64)
            checks.append(Check("ledger", True, str(self.ledger.path or "in memory")))
        except Exception as exc:  # a broken ledger file must show here, not crash the health page
            checks.append(Check("ledger", False, f"{type(exc).__name__}: {exc}"))
        return Health.of(*checks)
