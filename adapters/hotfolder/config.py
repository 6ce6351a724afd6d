"""The hotfolder's ``adapter_config``, checked on load so that a typo is refused with its key named.

Example (participant directory, TOML)::

    [participant.adapter]
    kind = "hotfolder"
    url = "https://dms.example.de/webdav/xdomea"   # or: path = "/srv/dms/altenburg"
    username = "xgw"
    password_env = "XGW_DMS_ALTENBURG_PASSWORD"     # the secret stays in the environment
    per_type = true                                 # in/0503/, out/0506/ ... like x-man
    poll_interval = 5

For x-man of the Landesarchiv Thüringen as the counterpart (the archive's own entry; see docs/adapters.md,
"x-man"), ``preset = "xman"`` replaces inbox/outbox by one transfer directory per submitting authority, as
x-man credits everything in one directory to one agency::

    [participant.adapter]
    kind = "hotfolder"
    preset = "xman"
    path = "/srv/xman-transfer"                      # or url = "https://.../webdav/"
    transfer_dirs = { "psw:16077000" = "altenburger-land", "psw:16076000" = "greiz" }
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_FOLDER = re.compile(r"^[^/\\.][^/\\]*(/[^/\\.][^/\\]*)*$")


#: x-man's answer folders (its per-agency Path0502 ... Path0507) as x-man's administrators usually name them
XMAN_ANSWER_FOLDERS = {"0502": "0502", "0504": "0504", "0506": "0506", "0507": "0507"}
_KEY = re.compile(r"^[^\s:]+:[^\s:]+$")


def _mode(value: object) -> object:
    """``0o640`` (TOML octal integer) or ``"0640"`` (a string, read as octal)."""
    if isinstance(value, str):
        try:
            return int(value, 8)
        except ValueError:
            raise ValueError('must be an octal file mode such as "0640"') from None
    return value


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
    #: permissions of the files the gateway writes into a local transfer directory (octal). 0640: the DMS
    #: or archive service reads them through the directory's group, nobody else on the host can; WebDAV
    #: servers decide permissions themselves, so this applies to ``path`` only
    file_mode: int = Field(0o640, ge=0, le=0o777)
    #: "xman": the transfer directories of x-man (Landesarchiv Thüringen), see the module docstring
    preset: Literal["xman"] | None = None
    #: xman: submitting authority (XÖV id) -> its transfer directory, relative to path/url
    transfer_dirs: dict[str, str] = Field(default_factory=dict)
    #: xman: Nachrichtentyp -> the subfolder of each transfer directory x-man writes that answer into
    answer_dirs: dict[str, str] = Field(default_factory=lambda: dict(XMAN_ANSWER_FOLDERS))
    #: xman: where files are written before they appear; beside the transfer directories (same file system,
    #: never scanned by x-man), because x-man's name patterns would match a temporary name inside them
    staging: str = ".xgw-staging"

    @field_validator("file_mode", mode="before")
    @classmethod
    def _octal(cls, value: object) -> object:
        return _mode(value)

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
        if self.preset == "xman":
            self._check_xman()
        elif self.transfer_dirs:
            raise ValueError('transfer_dirs only apply with preset = "xman"')
        return self

    def _check_xman(self) -> None:
        if not self.transfer_dirs:
            raise ValueError('preset = "xman" needs transfer_dirs: one directory per submitting authority')
        if self.per_type or self.index:
            raise ValueError('per_type and index do not apply with preset = "xman"')
        staging = self.staging.strip("/")
        if not staging or "/" in staging or staging in (".", ".."):
            raise ValueError("staging must be one folder name beside the transfer directories")
        folders: dict[str, str] = {}
        for authority, folder in self.transfer_dirs.items():
            if not _KEY.match(authority):
                raise ValueError(f'transfer_dirs: {authority!r} is not an XÖV id such as "psw:16077000"')
            clean = folder.strip("/")
            if not _FOLDER.match(clean):
                raise ValueError(f"transfer_dirs.{authority}: must be a relative folder without '..' or leading dots")
            if clean in folders:
                raise ValueError(
                    f"transfer_dirs: {authority} and {folders[clean]} share {clean!r}; x-man credits everything "
                    "in one transfer directory to one agency, so each authority needs its own"
                )
            for other, owner in folders.items():
                if clean.startswith(other + "/") or other.startswith(clean + "/"):
                    raise ValueError(f"transfer_dirs: {clean!r} and {other!r} ({owner}) are nested")
            folders[clean] = authority
        if staging.split("/")[0] in {f.split("/")[0] for f in folders}:
            raise ValueError("staging must not be one of the transfer directories")
        unknown = set(self.answer_dirs) - set(XMAN_ANSWER_FOLDERS)
        if unknown:
            raise ValueError(f"answer_dirs: x-man writes 0502, 0504, 0506 and 0507 only, not {sorted(unknown)}")
        for code, folder in self.answer_dirs.items():
            if folder.strip("/") and not _FOLDER.match(folder.strip("/")):  # "": x-man writes into the top level
                raise ValueError(f"answer_dirs.{code}: must be a relative folder without '..' or leading dots")

    def transfer_dir(self, authority: str) -> str | None:
        """The transfer directory of ``authority`` (normalised), or None when it has none."""
        folder = self.transfer_dirs.get(authority)
        return folder.strip("/") if folder is not None else None
