"""TEST CODE: an in-process CMIS 1.1 Browser Binding server, so the CMIS adapter is tested over real HTTP.

No CMIS server can be run on this machine (Alfresco, Nuxeo and the OpenCMIS InMemory server need Maven or
Docker), so the tests bring their own: a WSGI application implementing the subset of the OASIS CMIS 1.1
Browser Binding that real servers document and that the adapter and cmislib use, served by cheroot on
127.0.0.1. ``test_conformance.py`` runs cmislib's own operations against it, so this server is held to what a
client expects from Alfresco (``/alfresco/api/-default-/public/cmis/versions/1.1/browser``) or Nuxeo
(``/nuxeo/json/cmis``), not only to what our adapter happens to send.

What it implements (CMIS 1.1 part II, section 5 "Browser Binding"):

* service URL: ``GET`` -> JSON map repositoryId -> repositoryInfo with ``rootFolderUrl``, ``repositoryUrl``
  and capabilities (versioning, ``capabilityQuery = metadataonly``, no multi-filing);
* repository URL: ``cmisselector=repositoryInfo|typeDefinition|query``, ``POST cmisaction=query``;
* root folder URL (``objectId=`` or a path below it): ``cmisselector=object|properties|children|content|
  parents|versions|allowableActions``; ``POST`` multipart/form-data or urlencoded with
  ``cmisaction=createFolder|createDocument|update|delete|deleteTree|setContent|move|checkOut|
  cancelCheckOut|checkIn|query``, ``propertyId[n]``/``propertyValue[n]`` (``propertyValue[n][m]`` for
  multi-valued properties), ``succinct=true``, ``_charset_``; the first file part is the content stream;
* parameter names and selector/action values are matched case-insensitively, as OpenCMIS does (cmislib
  sends ``cmisaction=checkin`` where the specification writes ``checkIn``);
* versioning per version series (``checkOut`` makes a private working copy, ``checkIn`` a new major
  version; ``children`` and queries show the latest version only), switchable off per repository;
* secondary types (``cmis:secondaryObjectTypeIds``) with their own string properties, switchable off;
* properties not defined by the object's type or its secondary types are refused (``constraint``), as
  real repositories refuse them;
* errors as ``{"exception": "objectNotFound|constraint|nameConstraintViolation|contentAlreadyExists|
  invalidArgument|versioning|notSupported|permissionDenied|unauthorized|runtime", "message": ...}``
  with the HTTP status the specification assigns (404, 409, 400, 405, 403, 401, 500);
* Basic authentication (UTF-8 credentials);
* CMIS QL subset: ``SELECT * | col, ... FROM <type> [alias] [WHERE cond AND ...] [ORDER BY col [ASC|DESC]]``
  with ``prop = 'v'``, ``prop <> 'v'``, ``prop LIKE 'v%'``, ``prop IS [NOT] NULL``, ``IN_FOLDER('id')``,
  ``IN_TREE('id')``; a secondary type in FROM selects the objects it is applied to.

Fault injection for the tests: :meth:`BrowserBindingApp.fail_request` makes the n-th request from now
answer 500 (a repository error in the middle of an import); :meth:`BrowserBindingApp.down_after` makes every
request from the n-th on answer 503 until :meth:`BrowserBindingApp.up` (the repository behind a proxy goes
away mid-import); :class:`CmisServer` can be stopped and started again on the same port with its content
kept (nothing listens any more).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from cheroot import wsgi
from python_multipart.multipart import MultipartParser, parse_options_header

ALFRESCO_PATH = "/alfresco/api/-default-/public/cmis/versions/1.1/browser"
NUXEO_PATH = "/nuxeo/json/cmis"
REPOSITORY_ID = "-default-"

STATUS = {
    "invalidArgument": 400,
    "objectNotFound": 404,
    "permissionDenied": 403,
    "unauthorized": 401,
    "notSupported": 405,
    "constraint": 409,
    "contentAlreadyExists": 409,
    "nameConstraintViolation": 409,
    "updateConflict": 409,
    "versioning": 409,
    "filterNotValid": 400,
    "streamNotSupported": 403,
    "storage": 500,
    "runtime": 500,
}
REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
}


class CmisError(Exception):
    def __init__(self, exception: str, message: str) -> None:
        super().__init__(message)
        self.exception = exception
        self.message = message

    @property
    def status(self) -> int:
        return STATUS[self.exception]


# -- types --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropDef:
    id: str
    type: str = "string"  # id | string | boolean | integer | datetime
    multi: bool = False
    updatable: str = "readonly"  # readonly | readwrite | oncreate | whencheckedout


COMMON = (
    PropDef("cmis:objectId", "id"),
    PropDef("cmis:baseTypeId", "id"),
    PropDef("cmis:objectTypeId", "id", updatable="oncreate"),
    PropDef("cmis:secondaryObjectTypeIds", "id", multi=True, updatable="readwrite"),
    PropDef("cmis:name", updatable="readwrite"),
    PropDef("cmis:description", updatable="readwrite"),
    PropDef("cmis:createdBy"),
    PropDef("cmis:creationDate", "datetime"),
    PropDef("cmis:lastModifiedBy"),
    PropDef("cmis:lastModificationDate", "datetime"),
    PropDef("cmis:changeToken"),
)
FOLDER = (
    PropDef("cmis:parentId", "id"),
    PropDef("cmis:path"),
    PropDef("cmis:allowedChildObjectTypeIds", "id", multi=True),
)
DOCUMENT = (
    PropDef("cmis:isImmutable", "boolean"),
    PropDef("cmis:isLatestVersion", "boolean"),
    PropDef("cmis:isMajorVersion", "boolean"),
    PropDef("cmis:isLatestMajorVersion", "boolean"),
    PropDef("cmis:isPrivateWorkingCopy", "boolean"),
    PropDef("cmis:versionLabel"),
    PropDef("cmis:versionSeriesId", "id"),
    PropDef("cmis:isVersionSeriesCheckedOut", "boolean"),
    PropDef("cmis:versionSeriesCheckedOutBy"),
    PropDef("cmis:versionSeriesCheckedOutId", "id"),
    PropDef("cmis:checkinComment"),
    PropDef("cmis:contentStreamLength", "integer"),
    PropDef("cmis:contentStreamMimeType"),
    PropDef("cmis:contentStreamFileName"),
    PropDef("cmis:contentStreamId", "id"),
)


@dataclass(frozen=True)
class TypeDef:
    id: str
    base: str
    props: tuple[PropDef, ...]
    parent: str | None = None
    versionable: bool = False

    def json(self) -> dict[str, Any]:
        local = self.id.split(":", 1)[-1]
        out: dict[str, Any] = {
            "id": self.id,
            "localName": local,
            "localNamespace": "http://xoev-gateway.test/cmis",
            "displayName": self.id,
            "queryName": self.id,
            "description": self.id,
            "baseId": self.base,
            "parentId": self.parent,
            "creatable": self.base != "cmis:secondary",
            "fileable": self.base != "cmis:secondary",
            "queryable": True,
            "fulltextIndexed": False,
            "includedInSupertypeQuery": True,
            "controllablePolicy": False,
            "controllableACL": False,
            "typeMutability": {"create": False, "update": False, "delete": False},
            "propertyDefinitions": {p.id: _propdef_json(p, self.id) for p in self.props},
        }
        if self.base == "cmis:document":
            out["versionable"] = self.versionable
            out["contentStreamAllowed"] = "allowed"
        return out


def _propdef_json(p: PropDef, type_id: str) -> dict[str, Any]:
    inherited = p.id.startswith("cmis:") and not type_id.startswith("cmis:")
    return {
        "id": p.id,
        "localName": p.id.split(":", 1)[-1],
        "localNamespace": "http://xoev-gateway.test/cmis",
        "displayName": p.id,
        "queryName": p.id,
        "description": p.id,
        "propertyType": p.type,
        "cardinality": "multi" if p.multi else "single",
        "updatability": p.updatable,
        "inherited": inherited,
        "required": p.id in ("cmis:name", "cmis:objectTypeId"),
        "queryable": True,
        "orderable": not p.multi,
        "openChoice": False,
    }


# -- objects ------------------------------------------------------------------------------------------------


@dataclass
class Obj:
    id: str
    base: str
    type_id: str
    props: dict[str, Any]
    parent_id: str | None = None
    content: bytes | None = None
    mime: str | None = None
    filename: str | None = None
    series: str | None = None
    label: str | None = None
    latest: bool = True
    pwc: bool = False


@dataclass
class Series:
    versions: list[str] = field(default_factory=list)  # oldest first
    pwc: str | None = None
    checked_out_by: str | None = None


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class Repository:
    """The repository's state and operations; every public method runs under one lock."""

    def __init__(
        self,
        *,
        repository_id: str = REPOSITORY_ID,
        versioning: bool = True,
        secondary_types: dict[str, Iterable[str]] | None = None,
    ) -> None:
        self.id = repository_id
        self.versioning = versioning
        self.lock = threading.RLock()
        self.types: dict[str, TypeDef] = {
            "cmis:folder": TypeDef("cmis:folder", "cmis:folder", COMMON + FOLDER),
            "cmis:document": TypeDef("cmis:document", "cmis:document", COMMON + DOCUMENT, versionable=versioning),
            "cmis:secondary": TypeDef("cmis:secondary", "cmis:secondary", ()),
        }
        for type_id, prop_ids in (secondary_types or {}).items():
            props = tuple(PropDef(p, updatable="readwrite") for p in prop_ids)
            self.types[type_id] = TypeDef(type_id, "cmis:secondary", props, parent="cmis:secondary")
        self.objects: dict[str, Obj] = {}
        self.series: dict[str, Series] = {}
        #: folder id -> {name: entry id} (documents are filed by their version series id)
        self.entries: dict[str, dict[str, str]] = {}
        self.root_id = uuid.uuid4().hex
        root = Obj(self.root_id, "cmis:folder", "cmis:folder", {"cmis:name": "", "cmis:description": None})
        self._stamp(root, "system", created=True)
        self.objects[root.id] = root
        self.entries[root.id] = {}

    # -- lookups ---------------------------------------------------------------------------------------

    def get(self, object_id: str) -> Obj:
        obj = self.objects.get(object_id)
        if obj is None and object_id in self.series:  # a version series id stands for its latest version
            obj = self.objects[self.series[object_id].versions[-1]]
        if obj is None:
            raise CmisError("objectNotFound", f"Object {object_id!r} not found")
        return obj

    def folder(self, object_id: str) -> Obj:
        obj = self.get(object_id)
        if obj.base != "cmis:folder":
            raise CmisError("invalidArgument", f"Object {object_id!r} is not a folder")
        return obj

    def by_path(self, path: str) -> Obj:
        obj = self.objects[self.root_id]
        for segment in [s for s in path.split("/") if s]:
            entry = self.entries.get(obj.id, {}).get(segment)
            if entry is None:
                raise CmisError("objectNotFound", f"Path {path!r} not found")
            obj = self.get(entry)
        return obj

    def path_of(self, obj: Obj) -> str:
        names = []
        current: Obj | None = obj
        while current is not None and current.id != self.root_id:
            names.append(current.props["cmis:name"])
            current = self.objects.get(current.parent_id or "")
        return "/" + "/".join(reversed(names))

    def children(self, folder_id: str) -> list[Obj]:
        self.folder(folder_id)
        return [self.get(entry) for entry in self.entries[folder_id].values()]

    def type_of(self, obj: Obj) -> TypeDef:
        return self.types[obj.type_id]

    def secondary_ids(self, obj: Obj) -> list[str]:
        return list(obj.props.get("cmis:secondaryObjectTypeIds") or [])

    def prop_defs(self, obj: Obj) -> dict[str, PropDef]:
        defs = {p.id: p for p in self.type_of(obj).props}
        for sec in self.secondary_ids(obj):
            defs.update({p.id: p for p in self.types[sec].props})
        return defs

    def properties(self, obj: Obj) -> dict[str, Any]:
        """Every property of the object with its current value (system properties computed)."""
        values = dict(obj.props)
        values["cmis:objectId"] = obj.id
        values["cmis:baseTypeId"] = obj.base
        values["cmis:objectTypeId"] = obj.type_id
        values.setdefault("cmis:secondaryObjectTypeIds", [])
        if obj.base == "cmis:folder":
            values["cmis:parentId"] = obj.parent_id
            values["cmis:path"] = self.path_of(obj)
            values["cmis:allowedChildObjectTypeIds"] = []
        else:
            series = self.series[obj.series or ""]
            checked_out = series.pwc is not None
            values.update(
                {
                    "cmis:isImmutable": not (obj.latest or obj.pwc),
                    "cmis:isLatestVersion": obj.latest,
                    "cmis:isMajorVersion": not obj.pwc,
                    "cmis:isLatestMajorVersion": obj.latest,
                    "cmis:isPrivateWorkingCopy": obj.pwc,
                    "cmis:versionLabel": obj.label,
                    "cmis:versionSeriesId": obj.series,
                    "cmis:isVersionSeriesCheckedOut": checked_out,
                    "cmis:versionSeriesCheckedOutBy": series.checked_out_by,
                    "cmis:versionSeriesCheckedOutId": series.pwc,
                    "cmis:contentStreamLength": len(obj.content) if obj.content is not None else None,
                    "cmis:contentStreamMimeType": obj.mime,
                    "cmis:contentStreamFileName": obj.filename,
                    "cmis:contentStreamId": obj.id + "-content" if obj.content is not None else None,
                }
            )
            values.setdefault("cmis:checkinComment", None)
        defs = self.prop_defs(obj)
        return {k: values.get(k) for k in defs}

    # -- changes ---------------------------------------------------------------------------------------

    def _stamp(self, obj: Obj, user: str, *, created: bool = False) -> None:
        now = _now_ms()
        if created:
            obj.props["cmis:createdBy"] = user
            obj.props["cmis:creationDate"] = now
        obj.props["cmis:lastModifiedBy"] = user
        obj.props["cmis:lastModificationDate"] = now
        obj.props["cmis:changeToken"] = uuid.uuid4().hex[:12]

    def _apply(self, obj: Obj, given: dict[str, Any], *, creating: bool) -> None:
        """Set client-given properties, refusing what the type (and its secondary types) does not define."""
        if "cmis:secondaryObjectTypeIds" in given:
            secondary = given["cmis:secondaryObjectTypeIds"]
            secondary = [secondary] if isinstance(secondary, str) else list(secondary or [])
            for sec in secondary:
                t = self.types.get(sec)
                if t is None or t.base != "cmis:secondary":
                    raise CmisError("constraint", f"Secondary type {sec!r} is unknown")
            obj.props["cmis:secondaryObjectTypeIds"] = secondary
        defs = self.prop_defs(obj)
        for key, value in given.items():
            if key in ("cmis:secondaryObjectTypeIds", "cmis:objectTypeId"):
                continue
            d = defs.get(key)
            if d is None:
                raise CmisError("constraint", f"Property {key!r} is not defined for type {obj.type_id!r}")
            if d.updatable == "readonly" or (d.updatable == "oncreate" and not creating):
                raise CmisError("constraint", f"Property {key!r} is read-only")
            if isinstance(value, list) and not d.multi:
                raise CmisError("constraint", f"Property {key!r} is single-valued")
            obj.props[key] = value
        # properties of a secondary type that was removed go with it
        for key in [k for k in obj.props if k not in defs and not k.startswith("cmis:")]:
            del obj.props[key]

    def _check_name(self, folder_id: str, name: Any, *, own_entry: str | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise CmisError("constraint", "cmis:name must not be empty")
        if "/" in name:
            raise CmisError("nameConstraintViolation", f"cmis:name {name!r} contains '/'")
        existing = self.entries[folder_id].get(name)
        if existing is not None and existing != own_entry:
            raise CmisError("nameConstraintViolation", f"An object named {name!r} already exists in this folder")
        return name

    def _type(self, given: dict[str, Any], base: str) -> TypeDef:
        type_id = given.get("cmis:objectTypeId") or base
        t = self.types.get(type_id)
        if t is None:
            raise CmisError("constraint", f"Type {type_id!r} is unknown")
        if t.base != base:
            raise CmisError("constraint", f"Type {type_id!r} is not a {base} type")
        return t

    def create_folder(self, parent_id: str, given: dict[str, Any], user: str) -> Obj:
        self.folder(parent_id)
        t = self._type(given, "cmis:folder")
        name = self._check_name(parent_id, given.get("cmis:name"))
        obj = Obj(uuid.uuid4().hex, "cmis:folder", t.id, {}, parent_id=parent_id)
        self._apply(obj, given, creating=True)
        self._stamp(obj, user, created=True)
        self.objects[obj.id] = obj
        self.entries[obj.id] = {}
        self.entries[parent_id][name] = obj.id
        return obj

    def create_document(
        self,
        parent_id: str,
        given: dict[str, Any],
        user: str,
        content: tuple[bytes, str, str] | None,
        versioning_state: str | None,
    ) -> Obj:
        self.folder(parent_id)
        t = self._type(given, "cmis:document")
        name = self._check_name(parent_id, given.get("cmis:name"))
        if versioning_state not in (None, "none", "major", "minor", "checkedout"):
            raise CmisError("invalidArgument", f"versioningState {versioning_state!r} is invalid")
        if not t.versionable and versioning_state not in (None, "none"):
            raise CmisError("constraint", f"Type {t.id!r} is not versionable")
        if t.versionable and versioning_state == "none":
            raise CmisError("constraint", f"Type {t.id!r} is versionable: versioningState none is not allowed")
        series_id = uuid.uuid4().hex
        label = "1.0" if t.versionable else None
        obj = Obj(f"{series_id};1.0", "cmis:document", t.id, {}, parent_id=parent_id, series=series_id, label=label)
        self._apply(obj, given, creating=True)
        if content is not None:
            obj.content, obj.mime, obj.filename = content[0], content[1], content[2] or name
        self._stamp(obj, user, created=True)
        self.objects[obj.id] = obj
        self.series[series_id] = Series([obj.id])
        self.entries[parent_id][name] = series_id
        if versioning_state == "checkedout":
            return self.check_out(obj.id, user)
        return obj

    def update(self, object_id: str, given: dict[str, Any], user: str) -> Obj:
        obj = self.get(object_id)
        if obj.base == "cmis:document" and not (obj.latest or obj.pwc):
            raise CmisError("versioning", "Only the latest version can be updated")
        if "cmis:name" in given and obj.parent_id is not None and not obj.pwc:
            entry = obj.series if obj.base == "cmis:document" else obj.id
            new = self._check_name(obj.parent_id, given["cmis:name"], own_entry=entry)
            entries = self.entries[obj.parent_id]
            old = obj.props["cmis:name"]
            if entries.get(old) == entry:
                del entries[old]
            entries[new] = entry or obj.id
        self._apply(obj, given, creating=False)
        self._stamp(obj, user)
        return obj

    def set_content(self, object_id: str, content: tuple[bytes, str, str], overwrite: bool, user: str) -> Obj:
        obj = self.get(object_id)
        if obj.base != "cmis:document":
            raise CmisError("constraint", "Only documents have content")
        if obj.content is not None and not overwrite:
            raise CmisError("contentAlreadyExists", "The document already has content")
        if not (obj.latest or obj.pwc):
            raise CmisError("versioning", "Only the latest version can be changed")
        obj.content, obj.mime, obj.filename = content[0], content[1], content[2] or obj.props["cmis:name"]
        self._stamp(obj, user)
        return obj

    def delete(self, object_id: str, all_versions: bool = True) -> None:
        obj = self.get(object_id)
        if obj.id == self.root_id:
            raise CmisError("constraint", "The root folder cannot be deleted")
        if obj.base == "cmis:folder":
            if self.entries[obj.id]:
                raise CmisError("constraint", "The folder is not empty")
            del self.entries[obj.id]
            self._unfile(obj.parent_id, obj.id)
            del self.objects[obj.id]
            return
        series = self.series[obj.series or ""]
        if obj.pwc:  # deleting the working copy cancels the check-out
            self.cancel_check_out(obj.id)
            return
        doomed = list(series.versions) if all_versions else [obj.id]
        if series.pwc:
            doomed.append(series.pwc)
        for vid in doomed:
            self.objects.pop(vid, None)
            if vid in series.versions:
                series.versions.remove(vid)
        if vid_left := series.versions:
            self.objects[vid_left[-1]].latest = True
        else:
            self._unfile(obj.parent_id, obj.series or "")
            del self.series[obj.series or ""]

    def _unfile(self, folder_id: str | None, entry: str) -> None:
        entries = self.entries.get(folder_id or "", {})
        for name, value in list(entries.items()):
            if value == entry:
                del entries[name]

    def delete_tree(self, folder_id: str) -> None:
        folder = self.folder(folder_id)
        for child in self.children(folder.id):
            if child.base == "cmis:folder":
                self.delete_tree(child.id)
            else:
                self.delete(child.id)
        self.delete(folder.id)

    def move(self, object_id: str, source_id: str, target_id: str, user: str) -> Obj:
        obj = self.get(object_id)
        self.folder(target_id)
        if obj.parent_id != source_id:
            raise CmisError("invalidArgument", "The object is not in the source folder")
        if obj.base == "cmis:folder":  # a folder must not move into its own subtree
            current: str | None = target_id
            while current is not None:
                if current == obj.id:
                    raise CmisError("constraint", "A folder cannot move into itself")
                current = self.objects[current].parent_id
        entry = obj.series if obj.base == "cmis:document" else obj.id
        name = self._check_name(target_id, obj.props["cmis:name"])
        self._unfile(source_id, entry or obj.id)
        self.entries[target_id][name] = entry or obj.id
        if obj.base == "cmis:document":
            for vid in self.series[obj.series or ""].versions:
                self.objects[vid].parent_id = target_id
        else:
            obj.parent_id = target_id
        self._stamp(obj, user)
        return obj

    def check_out(self, object_id: str, user: str) -> Obj:
        obj = self.get(object_id)
        if obj.base != "cmis:document" or not self.type_of(obj).versionable:
            raise CmisError("constraint", "The object is not versionable")
        series = self.series[obj.series or ""]
        if series.pwc is not None:
            raise CmisError("versioning", "The document is already checked out")
        if not obj.latest:
            raise CmisError("versioning", "Only the latest version can be checked out")
        pwc = Obj(
            f"{obj.series};pwc",
            "cmis:document",
            obj.type_id,
            dict(obj.props),
            parent_id=obj.parent_id,
            content=obj.content,
            mime=obj.mime,
            filename=obj.filename,
            series=obj.series,
            label="pwc",
            latest=False,
            pwc=True,
        )
        self._stamp(pwc, user, created=True)
        self.objects[pwc.id] = pwc
        series.pwc, series.checked_out_by = pwc.id, user
        return pwc

    def cancel_check_out(self, object_id: str) -> None:
        obj = self.get(object_id)
        series = self.series.get(obj.series or "")
        if series is None or series.pwc is None:
            raise CmisError("versioning", "The document is not checked out")
        del self.objects[series.pwc]
        series.pwc = series.checked_out_by = None

    def check_in(
        self,
        object_id: str,
        given: dict[str, Any],
        content: tuple[bytes, str, str] | None,
        major: bool,
        comment: str | None,
        user: str,
    ) -> Obj:
        pwc = self.get(object_id)
        if not pwc.pwc:
            raise CmisError("versioning", "Only a private working copy can be checked in")
        series = self.series[pwc.series or ""]
        previous = self.objects[series.versions[-1]]
        if "cmis:name" in given:
            self._check_name(pwc.parent_id or "", given["cmis:name"], own_entry=pwc.series)
        self._apply(pwc, given, creating=False)
        major_no, minor_no = (int(x) for x in (previous.label or "1.0").split("."))
        label = f"{major_no + 1}.0" if major else f"{major_no}.{minor_no + 1}"
        new = Obj(
            f"{pwc.series};{label}",
            "cmis:document",
            pwc.type_id,
            dict(pwc.props),
            parent_id=pwc.parent_id,
            content=pwc.content,
            mime=pwc.mime,
            filename=pwc.filename,
            series=pwc.series,
            label=label,
        )
        if content is not None:
            new.content, new.mime, new.filename = content[0], content[1], content[2] or new.props["cmis:name"]
        new.props["cmis:checkinComment"] = comment
        self._stamp(new, user, created=True)
        old_name = previous.props["cmis:name"]
        if new.props["cmis:name"] != old_name and pwc.parent_id is not None:
            self._unfile(pwc.parent_id, pwc.series or "")
            self.entries[pwc.parent_id][new.props["cmis:name"]] = pwc.series or ""
        previous.latest = False
        del self.objects[pwc.id]
        series.pwc = series.checked_out_by = None
        series.versions.append(new.id)
        self.objects[new.id] = new
        return new

    def versions(self, object_id: str) -> list[Obj]:
        obj = self.get(object_id)
        if obj.base != "cmis:document":
            raise CmisError("invalidArgument", "Only documents have versions")
        series = self.series[obj.series or ""]
        out = [self.objects[v] for v in reversed(series.versions)]
        if series.pwc:
            out.insert(0, self.objects[series.pwc])
        return out

    # -- query -----------------------------------------------------------------------------------------

    def query(self, statement: str) -> tuple[list[str] | None, list[Obj]]:
        q = parse_query(statement)
        t = self.types.get(q.type_id)
        if t is None:
            raise CmisError("invalidArgument", f"Type {q.type_id!r} is unknown")
        hits = []
        for obj in self.objects.values():
            if obj.id == self.root_id or obj.pwc or (obj.base == "cmis:document" and not obj.latest):
                continue
            if t.base == "cmis:secondary":
                if t.id != "cmis:secondary" and t.id not in self.secondary_ids(obj):
                    continue
            elif not (obj.type_id == t.id or (t.id == t.base and obj.base == t.base)):
                continue
            props = self.properties(obj)
            if all(cond(obj, props, self) for cond in q.conditions):
                hits.append(obj)
        if q.order is not None:
            key, descending = q.order
            hits.sort(key=lambda o: str(self.properties(o).get(key) or ""), reverse=descending)
        return q.columns, hits


# -- CMIS QL subset -------------------------------------------------------------------------------------------

_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<type>[\w:.\-]+)(?:\s+(?:AS\s+)?(?!WHERE\b|ORDER\b)(?P<alias>\w+))?"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>[\w:.]+)(?:\s+(?P<dir>ASC|DESC))?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_STRING = r"'((?:[^'\\]|\\.)*)'"
_COMPARE = re.compile(r"^(?:\w+\.)?([\w:.\-]+)\s*(=|<>|\bLIKE\b)\s*" + _STRING + r"$", re.IGNORECASE)
_NULL = re.compile(r"^(?:\w+\.)?([\w:.\-]+)\s+IS\s+(NOT\s+)?NULL$", re.IGNORECASE)
_FOLDER = re.compile(r"^(IN_FOLDER|IN_TREE)\s*\(\s*(?:\w+\s*,\s*)?" + _STRING + r"\s*\)$", re.IGNORECASE)

Condition = Callable[[Obj, dict[str, Any], Repository], bool]


@dataclass
class Query:
    columns: list[str] | None
    type_id: str
    conditions: list[Condition]
    order: tuple[str, bool] | None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _split_and(where: str) -> list[str]:
    parts, current, quoted, i = [], [], False, 0
    while i < len(where):
        ch = where[i]
        if ch == "\\" and quoted:
            current.append(where[i : i + 2])
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        if not quoted and where[i : i + 5].upper() == " AND " and True:
            parts.append("".join(current))
            current = []
            i += 5
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


def _condition(text: str) -> Condition:
    if m := _COMPARE.match(text):
        prop, op, value = m[1], m[2].upper(), _unescape(m[3])
        if op == "LIKE":
            rx = _like(value)
            return lambda o, p, r: isinstance(p.get(prop), str) and rx.match(p[prop]) is not None
        if op == "=":
            return lambda o, p, r: p.get(prop) == value or (isinstance(p.get(prop), list) and value in p[prop])
        return lambda o, p, r: p.get(prop) is not None and p.get(prop) != value
    if m := _NULL.match(text):
        prop, negated = m[1], bool(m[2])
        return lambda o, p, r: (p.get(prop) is not None) == negated
    if m := _FOLDER.match(text):
        func, folder = m[1].upper(), _unescape(m[2])
        if func == "IN_FOLDER":
            return lambda o, p, r: o.parent_id == folder
        return lambda o, p, r: _in_tree(o, folder, r)
    raise CmisError("invalidArgument", f"Unsupported query condition: {text!r}")


def _in_tree(obj: Obj, folder_id: str, repo: Repository) -> bool:
    current = obj.parent_id
    while current is not None:
        if current == folder_id:
            return True
        current = repo.objects[current].parent_id if current in repo.objects else None
    return False


def parse_query(statement: str) -> Query:
    m = _QUERY.match(statement)
    if m is None:
        raise CmisError("invalidArgument", f"Cannot parse query: {statement!r}")
    cols_text = m["cols"].strip()
    columns = None if cols_text == "*" else [c.strip().split(".")[-1] for c in cols_text.split(",")]
    conditions = [_condition(c) for c in _split_and(m["where"])] if m["where"] else []
    order = (m["order"].split(".")[-1], (m["dir"] or "").upper() == "DESC") if m["order"] else None
    return Query(columns, m["type"], conditions, order)


# -- JSON rendering --------------------------------------------------------------------------------------------


def _allowable(repo: Repository, obj: Obj) -> dict[str, bool]:
    doc = obj.base == "cmis:document"
    versionable = doc and repo.type_of(obj).versionable
    checked_out = doc and repo.series[obj.series or ""].pwc is not None
    return {
        "canGetProperties": True,
        "canGetObjectParents": obj.id != repo.root_id,
        "canGetChildren": not doc,
        "canGetFolderParent": not doc and obj.id != repo.root_id,
        "canCreateDocument": not doc,
        "canCreateFolder": not doc,
        "canUpdateProperties": True,
        "canDeleteObject": obj.id != repo.root_id,
        "canDeleteTree": not doc,
        "canMoveObject": obj.id != repo.root_id,
        "canGetContentStream": doc and obj.content is not None,
        "canSetContentStream": doc,
        "canDeleteContentStream": doc and obj.content is not None,
        "canCheckOut": versionable and not checked_out and obj.latest,
        "canCancelCheckOut": versionable and obj.pwc,
        "canCheckIn": versionable and obj.pwc,
        "canGetAllVersions": doc,
        "canApplyPolicy": False,
        "canGetAppliedPolicies": False,
        "canRemovePolicy": False,
        "canCreateRelationship": False,
        "canGetRenditions": False,
        "canApplyACL": False,
        "canGetACL": False,
        "canAddObjectToFolder": False,
        "canRemoveObjectFromFolder": False,
    }


def render(
    repo: Repository,
    obj: Obj,
    *,
    succinct: bool,
    columns: list[str] | None = None,
    allowable: bool = False,
) -> dict[str, Any]:
    props = repo.properties(obj)
    if columns is not None:
        props = {k: v for k, v in props.items() if k in columns}
    out: dict[str, Any]
    if succinct:
        out = {"succinctProperties": props}
    else:
        defs = repo.prop_defs(obj)
        out = {
            "properties": {
                k: {
                    "id": k,
                    "localName": k.split(":", 1)[-1],
                    "displayName": k,
                    "queryName": k,
                    "type": defs[k].type,
                    "cardinality": "multi" if defs[k].multi else "single",
                    "value": v,
                }
                for k, v in props.items()
            }
        }
    if allowable:
        out["allowableActions"] = _allowable(repo, obj)
    return out


def repository_info(repo: Repository, service_url: str) -> dict[str, Any]:
    repo_url = f"{service_url}/{repo.id}"
    return {
        "repositoryId": repo.id,
        "repositoryName": "xoev-gateway CMIS test repository",
        "repositoryDescription": "In-process CMIS 1.1 Browser Binding server for the gateway's tests",
        "vendorName": "xoev-gateway",
        "productName": "cmis-test-server",
        "productVersion": "1.0",
        "rootFolderId": repo.root_id,
        "repositoryUrl": repo_url,
        "rootFolderUrl": f"{repo_url}/root",
        "latestChangeLogToken": None,
        "cmisVersionSupported": "1.1",
        "thinClientURI": None,
        "changesIncomplete": True,
        "changesOnType": [],
        "principalIdAnonymous": "anonymous",
        "principalIdAnyone": "anyone",
        "capabilities": {
            "capabilityContentStreamUpdatability": "anytime",
            "capabilityChanges": "none",
            "capabilityRenditions": "none",
            "capabilityGetDescendants": False,
            "capabilityGetFolderTree": False,
            "capabilityMultifiling": False,
            "capabilityUnfiling": False,
            "capabilityVersionSpecificFiling": False,
            "capabilityPWCSearchable": False,
            "capabilityPWCUpdatable": True,
            "capabilityAllVersionsSearchable": False,
            "capabilityOrderBy": "common",
            "capabilityQuery": "metadataonly",
            "capabilityJoin": "none",
            "capabilityACL": "none",
            "capabilityCreatablePropertyTypes": {"canCreate": []},
            "capabilityNewTypeSettableAttributes": {},
        },
        "extendedFeatures": [],
    }


# -- HTTP ------------------------------------------------------------------------------------------------------


@dataclass
class Form:
    """A parsed request: parameters (names lower-cased) plus the content stream, if one was sent."""

    params: dict[str, str]
    content: tuple[bytes, str, str] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name.lower(), default)

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter; like OpenCMIS (Boolean.parseBoolean) any case of "true" counts."""
        value = self.get(name)
        return default if value is None else value.lower() == "true"

    def properties(self) -> dict[str, Any]:
        """``propertyId[n]``/``propertyValue[n]`` (or ``propertyValue[n][m]`` for multi-valued) as a dict."""
        ids: dict[int, str] = {}
        single: dict[int, str] = {}
        multi: dict[int, dict[int, str]] = {}
        for key, value in self.params.items():
            if m := re.fullmatch(r"propertyid\[(\d+)\]", key):
                ids[int(m[1])] = value
            elif m := re.fullmatch(r"propertyvalue\[(\d+)\]", key):
                single[int(m[1])] = value
            elif m := re.fullmatch(r"propertyvalue\[(\d+)\]\[(\d+)\]", key):
                multi.setdefault(int(m[1]), {})[int(m[2])] = value
        out: dict[str, Any] = {}
        for n, pid in sorted(ids.items()):
            if n in multi:
                out[pid] = [v for _, v in sorted(multi[n].items())]
            else:
                out[pid] = single.get(n)
        return out


def _read_multipart(environ: dict[str, Any], boundary: bytes) -> Form:
    params: dict[str, str] = {}
    content: tuple[bytes, str, str] | None = None
    state: dict[str, Any] = {}

    def on_part_begin() -> None:
        state.update(headers={}, data=bytearray(), field=b"", value=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"] += data[start:end]

    def on_part_end() -> None:
        nonlocal content
        _, disposition = parse_options_header(state["headers"].get("content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8")
        filename = disposition.get(b"filename")
        mime, options = parse_options_header(state["headers"].get("content-type", b"text/plain"))
        if filename is not None or name == "content":
            if content is None:
                fname = filename.decode("utf-8") if filename is not None else ""
                content = (bytes(state["data"]), mime.decode("latin-1") or "application/octet-stream", fname)
            return
        charset = options.get(b"charset", b"utf-8").decode("latin-1")
        params[name.lower()] = bytes(state["data"]).decode(charset)

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    stream = environ["wsgi.input"]
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            break
        remaining -= len(chunk)
        parser.write(chunk)
    parser.finalize()
    return Form(params, content)


def read_form(environ: dict[str, Any]) -> Form:
    query = {k.lower(): v for k, v in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)}
    if environ["REQUEST_METHOD"] != "POST":
        return Form(query)
    ctype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    if ctype == b"multipart/form-data":
        form = _read_multipart(environ, options[b"boundary"])
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode("utf-8")
        form = Form({k.lower(): v for k, v in parse_qsl(body, keep_blank_values=True)})
    return Form({**query, **form.params}, form.content)


class BrowserBindingApp:
    """The WSGI application: authentication, fault injection, routing to :class:`Repository`."""

    def __init__(self, repo: Repository, users: dict[str, str], base_path: str = ALFRESCO_PATH) -> None:
        self.repo = repo
        self.users = users
        self.base_path = base_path.rstrip("/")
        self.requests = 0
        self.log: list[tuple[str, str, str]] = []  # (method, selector/action, status) of every request
        self._fail_at: dict[int, str] = {}
        self._down_from: int | None = None
        self._counter_lock = threading.Lock()

    def fail_request(self, n: int, exception: str = "runtime") -> None:
        """The n-th request from now (1 = the next one) answers with ``exception`` (default: 500 runtime)."""
        with self._counter_lock:
            self._fail_at[self.requests + n] = exception

    def down_after(self, n: int) -> None:
        """From the n-th request from now on, answer 503 as a reverse proxy does whose backend is gone."""
        with self._counter_lock:
            self._down_from = self.requests + n

    def up(self) -> None:
        with self._counter_lock:
            self._down_from = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._counter_lock:
            self.requests += 1
            injected = self._fail_at.pop(self.requests, None)
            down = self._down_from is not None and self.requests >= self._down_from
        if down:
            _drain(environ)
            self.log.append((environ["REQUEST_METHOD"], environ.get("QUERY_STRING", ""), "503"))
            start_response("503 Service Unavailable", [("Content-Type", "text/html")])
            return [b"<html><body>503 Service Unavailable</body></html>"]
        try:
            user = self._authenticate(environ)
            if injected is not None:
                raise CmisError(injected, "injected fault (test server)")
            status, headers, body = self._dispatch(environ, user)
        except CmisError as exc:
            _drain(environ)  # an unread request body would be taken for the next request on this connection
            status = exc.status
            payload = json.dumps({"exception": exc.exception, "message": exc.message}).encode()
            headers = [("Content-Type", "application/json; charset=UTF-8")]
            if status == 401:
                headers.append(("WWW-Authenticate", 'Basic realm="CMIS"'))
            body = [payload]
        self.log.append((environ["REQUEST_METHOD"], environ.get("QUERY_STRING", ""), str(status)))
        start_response(f"{status} {REASONS.get(status, 'Error')}", headers)
        return body

    def _authenticate(self, environ: dict[str, Any]) -> str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if user in self.users and self.users[user] == password:
                return user
        raise CmisError("unauthorized", "Authentication required")

    def _dispatch(self, environ: dict[str, Any], user: str) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        raw = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        if not raw.startswith(self.base_path):
            raise CmisError("objectNotFound", f"No CMIS service at {raw!r}")
        rest = raw[len(self.base_path) :].strip("/")
        service_url = self._service_url(environ)
        form = read_form(environ)
        repo = self.repo
        if rest == "":
            return _json({repo.id: repository_info(repo, service_url)})
        parts = rest.split("/", 2)
        if parts[0] != repo.id:
            raise CmisError("objectNotFound", f"Repository {parts[0]!r} not found")
        with repo.lock:
            if len(parts) == 1:
                return self._repository_call(environ, form, service_url)
            if parts[1] != "root":
                raise CmisError("objectNotFound", f"No resource {rest!r}")
            path = unquote(parts[2]) if len(parts) > 2 else ""
            if environ["REQUEST_METHOD"] == "POST":
                return self._action(form, path, user)
            return self._selector(form, path)

    def _service_url(self, environ: dict[str, Any]) -> str:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return f"{environ['wsgi.url_scheme']}://{host}{self.base_path}"

    def _repository_call(
        self, environ: dict[str, Any], form: Form, service_url: str
    ) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        repo = self.repo
        if environ["REQUEST_METHOD"] == "POST":
            action = (form.get("cmisaction") or "").lower()
            if action != "query":
                raise CmisError("notSupported", f"Action {action!r} is not supported on the repository URL")
            return self._query(form)
        selector = (form.get("cmisselector") or "repositoryInfo").lower()
        if selector == "repositoryinfo":
            return _json({repo.id: repository_info(repo, service_url)})
        if selector == "typedefinition":
            t = repo.types.get(form.get("typeId") or "")
            if t is None:
                raise CmisError("objectNotFound", f"Type {form.get('typeId')!r} not found")
            return _json(t.json())
        if selector == "query":
            return self._query(form)
        raise CmisError("notSupported", f"Selector {selector!r} is not supported")

    def _query(self, form: Form) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        columns, hits = self.repo.query(form.get("q") or form.get("statement") or "")
        skip = int(form.get("skipCount") or 0)
        limit = int(form.get("maxItems") or 100)
        page = hits[skip : skip + limit]
        succinct = form.flag("succinct")
        return _json(
            {
                "results": [render(self.repo, o, succinct=succinct, columns=columns) for o in page],
                "hasMoreItems": skip + limit < len(hits),
                "numItems": len(hits),
            }
        )

    def _target(self, form: Form, path: str) -> Obj:
        object_id = form.get("objectId")
        return self.repo.get(object_id) if object_id else self.repo.by_path(path)

    def _selector(self, form: Form, path: str) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        repo = self.repo
        obj = self._target(form, path)
        default = "children" if obj.base == "cmis:folder" else "content"
        selector = (form.get("cmisselector") or default).lower()
        succinct = form.flag("succinct")
        allowable = form.flag("includeAllowableActions")
        if (form.get("returnVersion") or "").lower() in ("latest", "latestmajor") and obj.series:
            obj = repo.get(repo.series[obj.series].versions[-1])
        if selector == "object":
            return _json(render(repo, obj, succinct=succinct, allowable=allowable))
        if selector == "properties":
            return _json(render(repo, obj, succinct=succinct)["succinctProperties" if succinct else "properties"])
        if selector == "allowableactions":
            return _json(_allowable(repo, obj))
        if selector == "children":
            kids = repo.children(obj.id)
            skip = int(form.get("skipCount") or 0)
            limit = int(form.get("maxItems") or 1000)
            page = kids[skip : skip + limit]
            return _json(
                {
                    "objects": [{"object": render(repo, k, succinct=succinct, allowable=allowable)} for k in page],
                    "hasMoreItems": skip + limit < len(kids),
                    "numItems": len(kids),
                }
            )
        if selector == "parents":
            if obj.parent_id is None:
                return _json([])
            parent = repo.get(obj.parent_id)
            return _json(
                [{"object": render(repo, parent, succinct=succinct), "relativePathSegment": obj.props["cmis:name"]}]
            )
        if selector == "versions":
            return _json([render(repo, v, succinct=succinct) for v in repo.versions(obj.id)])
        if selector == "content":
            if obj.base != "cmis:document" or obj.content is None:
                raise CmisError("constraint", "The object has no content stream")
            data = obj.content
            headers = [
                ("Content-Type", obj.mime or "application/octet-stream"),
                ("Content-Length", str(len(data))),
                ("Content-Disposition", "attachment; filename*=UTF-8''" + _quote(obj.filename or "content")),
            ]
            return 200, headers, _chunks(data)
        raise CmisError("notSupported", f"Selector {selector!r} is not supported")

    def _action(self, form: Form, path: str, user: str) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        repo = self.repo
        action = (form.get("cmisaction") or "").lower()
        succinct = form.flag("succinct")
        if action == "query":
            return self._query(form)
        target = self._target(form, path)
        given = form.properties()

        def done(obj: Obj, status: int = 200) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
            return _json(render(repo, obj, succinct=succinct), status)

        if action == "createfolder":
            return done(repo.create_folder(target.id, given, user), 201)
        if action == "createdocument":
            return done(
                repo.create_document(target.id, given, user, form.content, form.get("versioningState")),
                201,
            )
        if action == "update":
            return done(repo.update(target.id, given, user))
        if action == "setcontent":
            if form.content is None:
                raise CmisError("invalidArgument", "No content stream")
            overwrite = form.flag("overwriteFlag", True)
            return done(repo.set_content(target.id, form.content, overwrite, user), 201)
        if action == "delete":
            repo.delete(target.id, form.flag("allVersions", True))
            return 200, [("Content-Type", "application/json")], [b""]
        if action == "deletetree":
            repo.delete_tree(target.id)
            return 200, [("Content-Type", "application/json")], [b""]
        if action == "move":
            moved = repo.move(target.id, form.get("sourceFolderId") or "", form.get("targetFolderId") or "", user)
            return done(moved, 201)
        if action == "checkout":
            return done(repo.check_out(target.id, user), 201)
        if action == "cancelcheckout":
            repo.cancel_check_out(target.id)
            return 200, [("Content-Type", "application/json")], [b""]
        if action == "checkin":
            major = form.flag("major", True)
            new = repo.check_in(target.id, given, form.content, major, form.get("checkinComment"), user)
            return done(new, 201)
        raise CmisError("notSupported", f"Action {action!r} is not supported")


def _drain(environ: dict[str, Any]) -> None:
    stream = environ["wsgi.input"]
    while stream.read(1 << 16):
        pass


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _chunks(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _json(value: Any, status: int = 200) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    return status, [("Content-Type", "application/json; charset=UTF-8"), ("Content-Length", str(len(body)))], [body]


class CmisServer:
    """The app served by cheroot on 127.0.0.1; ``stop()``/``start()`` keep the port and the repository."""

    def __init__(
        self,
        users: dict[str, str],
        *,
        base_path: str = ALFRESCO_PATH,
        versioning: bool = True,
        secondary_types: dict[str, Iterable[str]] | None = None,
    ) -> None:
        self.repo = Repository(versioning=versioning, secondary_types=secondary_types)
        self.app = BrowserBindingApp(self.repo, users, base_path)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The service URL a client is configured with."""
        return f"http://127.0.0.1:{self.port}{self.app.base_path}"

    def start(self) -> None:
        server = wsgi.Server(("127.0.0.1", self.port), self.app, numthreads=4)
        server.prepare()
        self._server = server
        self._thread = threading.Thread(target=server.serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> CmisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
