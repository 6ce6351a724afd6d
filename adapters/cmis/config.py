"""The CMIS adapter's ``adapter_config``, checked on load so that a typo is refused with its key named.

Example (participant directory, TOML)::

    [participant.adapter]
    kind = "cmis"
    url = "https://dms.example.de/alfresco/api/-default-/public/cmis/versions/1.1/browser"
    username = "xgw"
    password_env = "XGW_DMS_GOTHA_PASSWORD"      # the secret stays in the environment
    import_folder = "/xdomea/Eingang"             # delivered records are filed here
    export_folder = "/xdomea/Ausgang"             # each folder put here leaves as one message
    message_type = "0503"
    sender = "psw:16067000"
    recipient = "psw:16000001"
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.xoev.build import BUILD_VERSIONS

_PATH = re.compile(r"^/([^/]+(/[^/]+)*)?$")
_NAME = re.compile(r"^[^/\\]+$")
_PARTY = re.compile(r"^[a-z0-9]+:[A-Za-z0-9.\-]+$")


class CmisConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["cmis"] = "cmis"
    #: the Browser Binding service URL (Alfresco: .../cmis/versions/1.1/browser, Nuxeo: .../json/cmis)
    url: str
    #: which repository behind the service URL; default: the first one the server lists
    repository_id: str | None = None
    username: str = Field(min_length=1)
    #: name of the environment variable holding the password (never the password itself)
    password_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: absolute folder paths in the repository
    import_folder: str = "/xdomea/Eingang"
    export_folder: str = "/xdomea/Ausgang"
    #: below the export folder: exported records, and refused ones with a reason document
    processed_folder: str = "Erledigt"
    failed_folder: str = "Abgelehnt"
    #: where the xdomea metadata lives: properties of a secondary type, a JSON text in cmis:description,
    #: or "auto" (the secondary type when the repository defines it)
    metadata: Literal["auto", "secondary", "description"] = "auto"
    secondary_type: str = "xdomea:metadata"
    folder_type: str = "cmis:folder"
    document_type: str = "cmis:document"
    #: xdomea versions as the document's CMIS versions (checkOut/checkIn), as separate documents carrying
    #: the version number, or "auto" (CMIS versions when the document type is versionable)
    versions: Literal["auto", "checkin", "documents"] = "auto"
    #: an exported record becomes this message, in this xdomea version
    message_type: Literal["0401", "0503"] = "0503"
    version: str = "3.0.0"
    #: Behördenkennung (prefix:Kennung) of the sender (this participant) and the recipient of exports
    sender: str | None = Field(None, pattern=_PARTY.pattern)
    sender_name: str | None = None
    recipient: str | None = Field(None, pattern=_PARTY.pattern)
    recipient_name: str | None = None
    #: a mapping file (TOML/YAML): property ids per xdomea field; unset keys keep the CMIS default
    mapping: Path | None = None
    timeout: float = Field(30.0, gt=0, le=3600)
    #: True, False, or the path of a CA bundle to trust for the server's certificate
    verify_tls: bool | str = True
    #: Basic auth over plain HTTP to a non-loopback host: only for a trusted network segment
    allow_http: bool = False

    @field_validator("import_folder", "export_folder")
    @classmethod
    def _absolute(cls, value: str) -> str:
        value = value.rstrip("/") or "/"
        if not _PATH.match(value) or any(part in (".", "..") for part in value.split("/")):
            raise ValueError("must be an absolute folder path such as /xdomea/Eingang")
        return value

    @field_validator("processed_folder", "failed_folder")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value) or value.startswith("."):
            raise ValueError("must be a folder name without '/' or a leading dot")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in BUILD_VERSIONS:
            raise ValueError(f"must be one of {', '.join(BUILD_VERSIONS)}")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> CmisConfig:
        a, b = self.import_folder, self.export_folder
        if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
            raise ValueError("import_folder and export_folder must not contain each other")
        if self.processed_folder == self.failed_folder:
            raise ValueError("processed_folder and failed_folder must be different")
        return self
