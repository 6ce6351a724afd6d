"""The Mayan adapter's ``adapter_config``, checked on load so that a typo is refused with its key named.

Example (participant directory, TOML)::

    [participant.adapter]
    kind = "mayan"
    url = "https://dms.gotha.example/"
    username = "xgw"
    password_env = "XGW_MAYAN_GOTHA_PASSWORD"   # or token_env = "..." for an API token
    inbox_cabinet = "xdomea Eingang"            # received records are filed below this cabinet
    outbox_cabinet = "xdomea Ausgang"           # records moved here are sent as one message
    export_type = "0503"                        # Aussonderung; "0401" for an Abgabe
    sender_name = "Landratsamt Gotha"           # written into every exported message's Kopf
    recipient = "psw:16000001"
    recipient_name = "Thüringisches Landesarchiv"

Who sends and who receives is written into every exported message, so nothing here may be a silent
placeholder: ``recipient``, ``sender_name`` and ``recipient_name`` are required (an earlier version filled
in "Behörde"/"Landesarchiv" and "psw:00000000", which then travelled in real packages); ``sender``
defaults to the participant the adapter belongs to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PARTY = re.compile(r"^[a-z0-9]{2,12}:[A-Za-z0-9._-]{1,40}$")


class MayanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["mayan"] = "mayan"
    #: the Mayan installation, e.g. https://dms.example.de/ (the API is below api/v4/)
    url: str
    username: str | None = Field(None, min_length=1)
    #: environment variables holding the password or an API token (never the secret itself)
    password_env: str | None = Field(None, pattern=_ENV)
    token_env: str | None = Field(None, pattern=_ENV)
    #: seconds for every single request (uploads of large files included)
    timeout: float = Field(60.0, gt=0, le=3600)
    verify_tls: bool | str = True
    #: plain HTTP to a host that is not this machine: only for a trusted network segment
    allow_http: bool = False
    #: the document type the gateway files Dokumente under (created with its metadata types if missing)
    document_type: str = Field("xdomea Schriftgut", min_length=1, max_length=96)
    inbox_cabinet: str = Field("xdomea Eingang", min_length=1, max_length=128)
    outbox_cabinet: str = Field("xdomea Ausgang", min_length=1, max_length=128)
    #: exported records move here (below the outbox) once the gateway has taken the message
    sent_cabinet: str = Field("versendet", min_length=1, max_length=128)
    export_type: Literal["0401", "0503"] = "0503"
    export_version: Literal["3.0.0", "3.1.0", "4.0.0"] = "3.0.0"
    #: who sends exported messages (default: the adapter's participant) and who receives them, as
    #: prefix:Kennung, with the names the Kopf of every exported message carries
    sender: str | None = None
    sender_name: str = Field(min_length=1, max_length=256)
    recipient: str
    recipient_name: str = Field(min_length=1, max_length=256)
    #: a mapping file (TOML/YAML): the metadata type names; relative to the gateway's working directory
    mapping: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL of the Mayan installation")
        return value.rstrip("/") + "/"

    @field_validator("sender", "recipient")
    @classmethod
    def _party(cls, value: str | None) -> str | None:
        if value is not None and not _PARTY.match(value):
            raise ValueError("must be a Behördenkennung as prefix:Kennung, e.g. psw:16067000")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> MayanConfig:
        if self.token_env is None and (self.username is None or self.password_env is None):
            raise ValueError("give token_env (an API token) or username and password_env")
        if self.token_env is not None and self.password_env is not None:
            raise ValueError("give either token_env or password_env, not both")
        host = urlsplit(self.url).hostname or ""
        if (
            urlsplit(self.url).scheme == "http"
            and host not in ("127.0.0.1", "localhost", "::1")
            and not self.allow_http
        ):
            raise ValueError("plain http to another host sends the credentials readable; use https or allow_http")
        if self.inbox_cabinet == self.outbox_cabinet:
            raise ValueError("inbox_cabinet and outbox_cabinet must be different cabinets")
        return self
