"""The hotfolder's ``adapter_config``, checked on load so that a typo is refused with its key named.

Example (participant directory, TOML)::

    [participant.adapter]
    kind = "hotfolder"
    url = "https://dms.example.de/webdav/xdomea"   # or: path = "/srv/dms/altenburg"
    username = "xgw"
    password_env = "XGW_DMS_ALTENBURG_PASSWORD"     # the secret stays in the environment
    per_type = true                                 # in/0503/, out/0506/ ... like x-man
    poll_interval = 5
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_FOLDER = re.compile(r"^[^/\\.][^/\\]*(/[^/\\.][^/\\]*)*$")


class HotfolderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["hotfolder"] = "hotfolder"
    #: a local directory (or mounted share) holding the transfer folders
    path: Path | None = None
    #: or a WebDAV collection: https://host/path/
    url: str | None = None
    #: the gateway writes delivered messages here; the DMS imports them from here
    inbox: str = "in"
    #: the DMS drops messages and packages to send here; the gateway takes them from here
    outbox: str = "out"
    #: one subfolder per Nachrichtentyp (in/0503/, out/0506/ ...), as x-man's transfer directories
    per_type: bool = False
    #: below each outbox folder: taken files, and refused files with a .reason.txt beside them
    processed: str = "processed"
    failed: str = "failed"
    #: seconds a file's size and modification time must stay unchanged (between two polls) to be taken
    poll_interval: float = Field(5.0, ge=0, le=3600)
    #: a mapping file (TOML/YAML) for the index; relative to the gateway's working directory
    mapping: Path | None = None
    #: write <stem>.index.json beside each delivered message: its records under the DMS's field names
    index: bool = False
    username: str | None = Field(None, min_length=1)
    #: name of the environment variable holding the password (never the password itself)
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(30.0, gt=0, le=3600)
    #: True, False, or the path of a CA bundle to trust for the server's certificate
    verify_tls: bool | str = True
    #: Basic auth over plain HTTP to a non-loopback host: only for a trusted network segment
    allow_http: bool = False

    @field_validator("inbox", "outbox", "processed", "failed")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        value = value.strip("/")
        if not _FOLDER.match(value):
            raise ValueError("must be a relative folder name without '..' or leading dots")
        return value

    @model_validator(mode="after")
    def _one_place(self) -> HotfolderConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of path (a local directory) and url (WebDAV)")
        if self.path is not None and (self.username or self.password_env):
            raise ValueError("username/password_env only apply to a WebDAV url")
        if self.password_env and not self.username:
            raise ValueError("password_env needs a username")
        if self.inbox == self.outbox:
            raise ValueError("inbox and outbox must be different folders")
        if self.processed == self.failed:
            raise ValueError("processed and failed must be different folders")
        return self
