"""What a directory entry looks like from outside: the pydantic form read from TOML/JSON files and the API.

The same model validates a file entry, an ``xgw participants add`` and an admin API request, so an
operator gets the same error for the same mistake wherever it was made. Identifiers are XÖV
identifiers: a lowercase prefix naming the directory of Behördenkennungen, a colon, and the Kennung
(``psw:16077000``); they never change once messages refer to them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.store.models import XOEV_ID_LENGTH, RouteKind, SignaturePolicy

XOEV_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9._-]{0,63}:[A-Za-z0-9][A-Za-z0-9._-]*$"
XDOMEA_VERSIONS = ("2.3.0", "2.4.0", "3.0.0", "3.1.0", "4.0.0")
XdomeaVersion = Literal["2.3.0", "2.4.0", "3.0.0", "3.1.0", "4.0.0"]

XoevId = Annotated[
    str,
    Field(
        pattern=XOEV_ID_PATTERN,
        max_length=XOEV_ID_LENGTH,
        description="XÖV identifier: prefix, colon, Behördenkennung.",
        examples=["psw:16077000"],
    ),
]


class Route(BaseModel):
    """Where messages for this participant go: its mailbox on this gateway, or a remote XTA 2 endpoint."""

    model_config = ConfigDict(extra="forbid")

    kind: RouteKind = Field(description="mailbox: fetched from this gateway; xta: pushed to endpoint_url.")
    endpoint_url: str | None = Field(
        None,
        max_length=2048,
        description="The remote XTA 2 endpoint (https) for kind xta.",
        examples=["https://xta.example.thueringen.de/services/XTAService"],
    )

    @model_validator(mode="after")
    def _endpoint_matches_kind(self) -> Route:
        if self.kind is RouteKind.XTA:
            if not self.endpoint_url:
                raise ValueError("route kind 'xta' needs endpoint_url")
            if not re.match(r"^https?://[^\s/]+", self.endpoint_url):
                raise ValueError(f"endpoint_url must be an http(s) URL, not {self.endpoint_url!r}")
        elif self.endpoint_url:
            raise ValueError("endpoint_url is only allowed for route kind 'xta'")
        return self


class CertificateSpec(BaseModel):
    """A signing certificate to pin: PEM text, or a PEM file relative to the directory file."""

    model_config = ConfigDict(extra="forbid")

    pem: str | None = Field(None, description="PEM text of one or more certificates.")
    pem_file: Path | None = Field(None, description="PEM file; relative paths start at the directory file.")

    @model_validator(mode="after")
    def _one_source(self) -> CertificateSpec:
        if (self.pem is None) == (self.pem_file is None):
            raise ValueError("give exactly one of pem and pem_file")
        return self


def _default_versions() -> list[XdomeaVersion]:
    return ["3.0.0", "3.1.0", "4.0.0"]


class ParticipantSpec(BaseModel):
    """One authority or system in the directory."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "psw:16077000",
                    "name": "Landratsamt Altenburger Land",
                    "accepted_versions": ["3.0.0", "3.1.0", "4.0.0"],
                    "route": {"kind": "mailbox"},
                    "signature_policy": "require",
                    "adapter": {"kind": "hotfolder", "path": "/srv/dms/altenburg/in"},
                }
            ]
        },
    )

    id: XoevId
    name: str = Field(min_length=1, max_length=256, description="Display name of the authority.")
    accepted_versions: list[XdomeaVersion] = Field(
        default_factory=_default_versions,
        description="The xdomea versions this participant can receive.",
    )
    route: Route = Field(default_factory=lambda: Route(kind=RouteKind.MAILBOX))
    signature_policy: SignaturePolicy = Field(
        SignaturePolicy.REQUIRE, description="What its inbound messages must carry: require, accept or reject."
    )
    certificates: list[CertificateSpec] = Field(
        default_factory=list, description="Signing certificates to pin (added; never removed by an import)."
    )
    adapter: dict[str, Any] = Field(
        default_factory=dict, description="Configuration of the DMS adapter delivering to this participant."
    )

    @field_validator("accepted_versions")
    @classmethod
    def _distinct_versions(cls, value: list[XdomeaVersion]) -> list[XdomeaVersion]:
        if not value:
            raise ValueError("at least one xdomea version is needed")
        return sorted(set(value), key=XDOMEA_VERSIONS.index)

    @field_validator("name")
    @classmethod
    def _stripped(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("name must not start or end with white space")
        return value


class DirectoryFile(BaseModel):
    """A whole directory file: ``[[participant]]`` tables in TOML, or ``{"participant": [...]}`` in JSON."""

    model_config = ConfigDict(extra="forbid")

    participant: list[ParticipantSpec] = Field(default_factory=list)
