"""What a directory entry looks like from outside: the pydantic form read from TOML/JSON files and the API.

The same model validates a file entry, an ``xgw participants add`` and an admin API request, so an
operator gets the same error for the same mistake wherever it was made. Identifiers are XÖV
identifiers: a lowercase prefix naming the directory of Behördenkennungen, a colon, and the Kennung
(``psw:16077000``); they never change once messages refer to them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.store.models import XOEV_ID_LENGTH, ReceiptMaker, RouteKind, SenderIdentification, SignaturePolicy

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


#: ``adapter.preset`` of a hotfolder that is an x-man transfer directory: writing a 0503 there is not an import
XMAN_PRESET = "xman"


class ReceiptsSpec(BaseModel):
    """Who makes the answers to messages delivered to this participant; unset keys are derived (docs/receipts.md)."""

    model_config = ConfigDict(extra="forbid")

    technical: ReceiptMaker | None = Field(
        None,
        description="Who makes the Empfangsbestaetigungen 0102, 0202, 0403, 0504, 0505, 0507: gateway or recipient. "
        "Unset: gateway for a participant with an importing DMS adapter, recipient otherwise (x-man transfer "
        "directory, XTA route, mailbox fetched by the participant's own system).",
    )
    import_confirmations: ReceiptMaker | None = Field(
        None,
        description="Who makes the import confirmations 0402 and 0506: gateway (only from what the participant's "
        "own DMS adapter reported for every object) or recipient. Unset: gateway for an importing DMS adapter, "
        "recipient otherwise. The appraisal 0502 is always the recipient's.",
    )


@dataclass(frozen=True, slots=True)
class Receipts:
    """The receipt policy in effect for a participant, with where each value came from."""

    technical: ReceiptMaker
    import_confirmations: ReceiptMaker
    #: why the unset values are what they are, for operators (e.g. "x-man transfer directory")
    basis: str


def is_xman(adapter: Mapping[str, Any]) -> bool:
    return adapter.get("kind") == "hotfolder" and adapter.get("preset") == XMAN_PRESET


def importing_adapter(adapter: Mapping[str, Any]) -> bool:
    """An adapter that imports into a DMS and reports per object what it imported (not an x-man hand-over)."""
    return bool(adapter.get("kind")) and not is_xman(adapter)


def effective_receipts(route: RouteKind, adapter: Mapping[str, Any], configured: Mapping[str, Any]) -> Receipts:
    """The configured ``receipts`` table, its unset keys derived from the route and the adapter.

    An x-man transfer directory and a remote XTA server answer for themselves (the archive's 0506 is what
    lets a district destroy its originals: the gateway must never anticipate it). An importing DMS adapter
    reports facts per object, so the gateway can answer from them. A mailbox without adapter is fetched
    (over XTA or REST) by the participant's own xdomea system, which answers when it has read the message;
    that it sits in the box is a transport fact the sender already learns from XTA, and whether it was
    imported only the participant's own system knows.
    """
    if route is RouteKind.XTA:
        derived, basis = (ReceiptMaker.RECIPIENT, ReceiptMaker.RECIPIENT), "remote XTA server"
    elif is_xman(adapter):
        derived, basis = (ReceiptMaker.RECIPIENT, ReceiptMaker.RECIPIENT), "x-man transfer directory"
    elif importing_adapter(adapter):
        derived, basis = (ReceiptMaker.GATEWAY, ReceiptMaker.GATEWAY), f"DMS adapter {adapter.get('kind')}"
    else:
        derived, basis = (ReceiptMaker.RECIPIENT, ReceiptMaker.RECIPIENT), "mailbox without DMS adapter"
    technical = configured.get("technical")
    confirmations = configured.get("import_confirmations")
    return Receipts(
        ReceiptMaker(technical) if technical else derived[0],
        ReceiptMaker(confirmations) if confirmations else derived[1],
        basis,
    )


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
    sender_identification: SenderIdentification = Field(
        SenderIdentification.CHANNEL,
        description="kennung: its messages' Absender must carry its Behoerdenkennung; channel: an Absender "
        "without Behoerdenkennung is identified by the authenticated channel (token, TLS certificate, own "
        "adapter) and accepted with a warning. A different Behoerdenkennung is refused as forged either way.",
    )
    receipts: ReceiptsSpec = Field(
        default_factory=ReceiptsSpec, description="Who answers messages delivered to it (docs/receipts.md)."
    )

    @field_validator("accepted_versions")
    @classmethod
    def _distinct_versions(cls, value: list[XdomeaVersion]) -> list[XdomeaVersion]:
        if not value:
            raise ValueError("at least one xdomea version is needed")
        return sorted(set(value), key=XDOMEA_VERSIONS.index)

    @model_validator(mode="after")
    def _confirmations_need_facts(self) -> ParticipantSpec:
        if self.receipts.import_confirmations is ReceiptMaker.GATEWAY and not importing_adapter(self.adapter):
            what = "an x-man transfer directory reports no import" if is_xman(self.adapter) else "it has no DMS adapter"
            raise ValueError(
                "receipts.import_confirmations = 'gateway' needs the facts of an importing DMS adapter, and "
                f"{what}: the gateway would confirm an import nobody made; use 'recipient'"
            )
        return self

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
