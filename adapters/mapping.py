"""Declarative mapping between a DMS's record fields and xdomea Schriftgutobjekte, per participant.

Every DMS names the same things differently ("Aktenzeichen", "az", "file_number"); the mapping file says
which DMS field holds which xdomea metadatum, so an adapter converts records both ways without code. It is
a TOML or YAML file, checked completely on load: an unknown key, a DMS field used twice, or a template
with an unknown placeholder is refused with the key named (``fields.betref: unknown key``). Without a file
the :data:`DEFAULT` mapping applies (German field names as a DMS's export would use them).

A DMS record is a plain dict (JSON-compatible: dates as ISO strings) with children and versions nested::

    {"objektart": "Akte", "xdomea_id": "...", "aktenzeichen": "061.10-2024/0815", "betreff": "...",
     "laufzeit_beginn": "2019-03-01", "unterobjekte": [...], "versionen": [{"nummer": "1", "formate": [...]}]}

Codes (Bewertungsvorschlag, Aussonderungsart, Dateiformat) travel as their values: the code list's URI,
version and name belong to the xdomea version and are added again when a message is built.

Fields the mapping does not know are the DMS's own: :meth:`Mapping.extras_of` returns them, and
``extra`` fills DMS-only fields on import from templates (``quelle = "xdomea {message_type} {process_id}"``).
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping as MappingABC
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters.base import ConfigError
from gateway.xoev.model import Code, DocumentVersion, Format, ObjectKind, Primaerdokument, RecordObject

#: placeholders an ``extra`` template may use
TEMPLATE_FIELDS = frozenset({"process_id", "message_type", "sender", "recipient", "kind", "id"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectFields(_Strict):
    """DMS field names for the metadata of every Schriftgutobjekt."""

    kind: str = "objektart"
    id: str = "xdomea_id"
    kennzeichen: str = "aktenzeichen"
    betreff: str = "betreff"
    laufzeit_begin: str = "laufzeit_beginn"
    laufzeit_end: str = "laufzeit_ende"
    number_in_parent: str = "laufende_nummer"
    document_type: str = "dokumenttyp"
    bewertungsvorschlag: str = "bewertungsvorschlag"
    aussonderungsart: str = "aussonderungsart"
    children: str = "unterobjekte"
    versions: str = "versionen"


class VersionFields(_Strict):
    number: str = "nummer"
    formats: str = "formate"


class FormatFields(_Strict):
    """One rendition of a version: its format and its primary file."""

    format: str = "format"
    format_version: str = "formatversion"
    other_name: str = "formatname"
    file: str = "datei"
    original_name: str = "originalname"
    created_at: str = "erstellt_am"
    creator: str = "ersteller"
    modified_at: str = "geaendert_am"
    hash: str = "pruefsumme"
    hash_algorithm: str = "pruefsummenverfahren"


def _default_formats() -> dict[str, str]:
    # Dateiformat codes (code list Dateiformat) as DMSs usually keep them: MIME types
    return {"044": "application/pdf", "024": "image/tiff", "030": "application/xml", "045": "text/plain"}


def _distinct(where: str, names: MappingABC[str, str]) -> None:
    seen: dict[str, str] = {}
    for key, value in names.items():
        if not value.strip():
            raise ValueError(f"{where}.{key}: must not be empty")
        if value in seen:
            raise ValueError(f"{where}.{key}: DMS name {value!r} is already used by {where}.{seen[value]}")
        seen[value] = key


class Mapping(_Strict):
    """The whole mapping; see the module docstring and docs/adapters.md for an example file."""

    #: how the DMS calls each kind of object (its object class / document type)
    kinds: dict[ObjectKind, str] = Field(default_factory=lambda: {k: k.value for k in ObjectKind})
    fields: ObjectFields = Field(default_factory=ObjectFields)
    #: per-kind names of the Kennzeichen field (an Akte's Aktenzeichen, a Vorgang's Vorgangskennzeichen ...)
    kennzeichen: dict[ObjectKind, str] = Field(default_factory=dict)
    versions: VersionFields = Field(default_factory=VersionFields)
    formats: FormatFields = Field(default_factory=FormatFields)
    #: Dateiformat code -> the DMS's format value (MIME type ...); codes not listed travel as they are
    format_codes: dict[str, str] = Field(default_factory=_default_formats)
    #: DMS-only fields filled on import: name -> template with {process_id}, {message_type}, {sender} ...
    extra: dict[str, str] = Field(default_factory=dict)

    @field_validator("kinds")
    @classmethod
    def _all_kinds(cls, value: dict[ObjectKind, str]) -> dict[ObjectKind, str]:
        full = {k: value.get(k, k.value) for k in ObjectKind}
        _distinct("kinds", {str(k): v for k, v in full.items()})
        return full

    @field_validator("format_codes")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        _distinct("format_codes", value)
        return value

    @field_validator("extra")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for key, template in value.items():
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            except ValueError as exc:
                raise ValueError(f"extra.{key}: {exc}") from None
            unknown = used - TEMPLATE_FIELDS
            if unknown:
                allowed = ", ".join(sorted(TEMPLATE_FIELDS))
                raise ValueError(f"extra.{key}: unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {allowed})")
        return value

    @model_validator(mode="after")
    def _no_clashes(self) -> Mapping:
        names = dict(self.fields.model_dump())
        names.update({f"kennzeichen.{k}": v for k, v in self.kennzeichen.items() if v != self.fields.kennzeichen})
        names.update({f"extra.{k}": k for k in self.extra})
        _distinct("fields", names)
        _distinct("versions", self.versions.model_dump())
        _distinct("formats", self.formats.model_dump())
        return self

    # -- xdomea -> DMS -------------------------------------------------------------------------------

    def kennzeichen_field(self, kind: ObjectKind) -> str:
        return self.kennzeichen.get(kind, self.fields.kennzeichen)

    def to_dms(self, obj: RecordObject, context: MappingABC[str, str] | None = None) -> dict[str, Any]:
        """One object and its subtree as a DMS record; ``context`` fills the ``extra`` templates."""
        f = self.fields
        out: dict[str, Any] = {f.kind: self.kinds[obj.kind], f.id: obj.id}
        _put(out, self.kennzeichen_field(obj.kind), obj.kennzeichen)
        _put(out, f.betreff, obj.betreff)
        _put(out, f.laufzeit_begin, obj.laufzeit_begin.isoformat() if obj.laufzeit_begin else None)
        _put(out, f.laufzeit_end, obj.laufzeit_end.isoformat() if obj.laufzeit_end else None)
        _put(out, f.number_in_parent, obj.number_in_parent)
        _put(out, f.document_type, obj.document_type)
        _put(out, f.bewertungsvorschlag, obj.bewertungsvorschlag.code if obj.bewertungsvorschlag else None)
        _put(out, f.aussonderungsart, obj.aussonderungsart.code if obj.aussonderungsart else None)
        if self.extra and context is not None:
            values = {**context, "kind": str(obj.kind), "id": obj.id}
            for name, template in self.extra.items():
                out[name] = template.format_map(_Defaulting(values))
        if obj.versions:
            out[f.versions] = [self._version_to_dms(v) for v in obj.versions]
        if obj.children:
            out[f.children] = [self.to_dms(child, context) for child in obj.children]
        return out

    def _version_to_dms(self, version: DocumentVersion) -> dict[str, Any]:
        v, fm = self.versions, self.formats
        formats = []
        for fmt in version.formats:
            item: dict[str, Any] = {fm.format: self.format_codes.get(fmt.name.code, fmt.name.code)}
            _put(item, fm.format_version, fmt.version)
            _put(item, fm.other_name, fmt.other_name)
            p = fmt.primary
            if p is not None:
                _put(item, fm.file, p.filename)
                _put(item, fm.original_name, p.original_filename)
                _put(item, fm.created_at, p.created_at.isoformat() if p.created_at else None)
                _put(item, fm.creator, p.creator)
                _put(item, fm.modified_at, p.modified_at.isoformat() if p.modified_at else None)
                _put(item, fm.hash, p.hash_value)
                _put(item, fm.hash_algorithm, p.hash_algorithm)
            formats.append(item)
        return {v.number: version.number, v.formats: formats}

    # -- DMS -> xdomea -------------------------------------------------------------------------------

    def from_dms(self, record: MappingABC[str, Any]) -> RecordObject:
        """A DMS record (and its subtree) as a Schriftgutobjekt; raises ConfigError naming the bad field."""
        f = self.fields
        kinds = {v: k for k, v in self.kinds.items()}
        kind_value = record.get(f.kind)
        if kind_value not in kinds:
            raise ConfigError(f"record field {f.kind}: {kind_value!r} is none of {', '.join(kinds)}")
        kind = kinds[kind_value]
        ident = _text(record, f.id)
        if not ident:
            raise ConfigError(f"record field {f.id}: missing (every object needs its xdomea id)")
        return RecordObject(
            kind=kind,
            id=ident,
            kennzeichen=_text(record, self.kennzeichen_field(kind)),
            betreff=_text(record, f.betreff),
            laufzeit_begin=_date(record, f.laufzeit_begin),
            laufzeit_end=_date(record, f.laufzeit_end),
            number_in_parent=_text(record, f.number_in_parent),
            document_type=_text(record, f.document_type),
            bewertungsvorschlag=_code(record, f.bewertungsvorschlag),
            aussonderungsart=_code(record, f.aussonderungsart),
            children=[self.from_dms(c) for c in record.get(f.children) or []],
            versions=[self._version_from_dms(v) for v in record.get(f.versions) or []],
        )

    def _version_from_dms(self, record: MappingABC[str, Any]) -> DocumentVersion:
        v, fm = self.versions, self.formats
        codes = {value: code for code, value in self.format_codes.items()}
        formats = []
        for item in record.get(v.formats) or []:
            file = _text(item, fm.file)
            primary = None
            if file:
                primary = Primaerdokument(
                    filename=file,
                    original_filename=_text(item, fm.original_name),
                    created_at=_datetime(item, fm.created_at),
                    creator=_text(item, fm.creator),
                    modified_at=_datetime(item, fm.modified_at),
                    hash_value=_text(item, fm.hash),
                    hash_algorithm=_text(item, fm.hash_algorithm),
                )
            value = _text(item, fm.format) or ""
            formats.append(
                Format(
                    name=Code(codes.get(value, value)),
                    version=_text(item, fm.format_version),
                    primary=primary,
                    other_name=_text(item, fm.other_name),
                )
            )
        return DocumentVersion(number=_text(record, v.number) or "1", formats=formats)

    def extras_of(self, record: MappingABC[str, Any]) -> dict[str, Any]:
        """The fields of one record (not its children) that the mapping does not translate: the DMS's own."""
        known = set(self.fields.model_dump().values()) | set(self.kennzeichen.values())
        return {k: v for k, v in record.items() if k not in known}


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _put(out: dict[str, Any], name: str, value: object) -> None:
    if value is not None:
        out[name] = value


def _text(record: MappingABC[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise ConfigError(f"record field {name}: expected text, got {type(value).__name__}")
    return str(value)


def _date(record: MappingABC[str, Any], name: str) -> date | None:
    value = _text(record, name)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise ConfigError(f"record field {name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _datetime(record: MappingABC[str, Any], name: str) -> datetime | None:
    value = _text(record, name)
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        raise ConfigError(f"record field {name}: {value!r} is not an ISO 8601 time") from None


def _code(record: MappingABC[str, Any], name: str) -> Code | None:
    value = _text(record, name)
    return Code(value) if value else None


DEFAULT = Mapping()


def parse_mapping(data: MappingABC[str, Any], source: str = "mapping") -> Mapping:
    try:
        return Mapping.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError.from_validation(exc, source) from None


def load_mapping(path: Path | None) -> Mapping:
    """Read and check a TOML (``.toml``) or YAML (``.yaml``/``.yml``) mapping file; None gives the default."""
    if path is None:
        return DEFAULT
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mapping file {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"mapping file {path}: {exc}") from None
    elif suffix in (".yaml", ".yml"):
        data = _load_yaml(text, path)
    else:
        raise ConfigError(f"mapping file {path}: use .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ConfigError(f"mapping file {path}: the top level must be a table of keys")
    return parse_mapping(data, str(path))


def _load_yaml(text: str, path: Path) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # only needed by participants who chose YAML
    except ImportError:
        raise ConfigError(f"mapping file {path}: YAML needs PyYAML installed (or use TOML)") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"mapping file {path}: {exc}") from None
