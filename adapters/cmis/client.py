"""A small typed facade over cmislib's Browser Binding: the dozen operations the adapter needs, typed.

Why cmislib (Apache Chemistry's client) and not hand-written HTTP: it is the reference Python client of
the standard, so the adapter sends what other CMIS clients send and is known to work with Alfresco and
Nuxeo; the test server is checked against the same library. What this facade adds:

* errors become the adapter contract's: connection failures, timeouts and 5xx are
  :class:`~adapters.base.Unavailable`, 401 is :class:`~adapters.base.AuthenticationFailed`, and every
  other CMIS exception is a :class:`CmisFault` carrying the specification's exception name
  (``nameConstraintViolation``, ``constraint`` ...) parsed from the JSON error body;
* timeouts on every request (cmislib sets none) through a mounted transport adapter;
* Basic credentials sent as UTF-8 (requests would send latin-1), HTTPS required off loopback;
* objects are read from the raw JSON (cmislib turns CMIS datetimes into naive local times and a missing
  integer into 0); content is streamed to a file instead of being read into memory;
* no extra round trips: operations on a known id build cmislib's objects without loading them.

Nothing here knows xdomea; the password appears in no message and no log line.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
from cmislib import CmisClient
from cmislib.browser.binding import BrowserBinding, BrowserDocument, BrowserFolder
from cmislib.exceptions import CmisException
from requests.adapters import HTTPAdapter

from adapters.base import AuthenticationFailed, ConfigError, Unavailable

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


class CmisFault(Exception):
    """A CMIS exception the server answered with (not a transport failure): ``name`` as in the spec."""

    def __init__(self, name: str, status: int | None, message: str) -> None:
        super().__init__(f"CMIS {name}: {message}" if message else f"CMIS {name}")
        self.name = name
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Node:
    """One CMIS object as the server described it: its id, base type and properties (raw JSON values)."""

    id: str
    base: str
    props: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.props.get("cmis:name") or "")

    @property
    def is_folder(self) -> bool:
        return self.base == "cmis:folder"

    @property
    def series(self) -> str:
        """The version series for a document (stable across versions), else the object id."""
        return str(self.props.get("cmis:versionSeriesId") or self.id)


def node_of(data: Mapping[str, Any]) -> Node:
    """A Node from a Browser Binding object JSON, succinct or not."""
    if "succinctProperties" in data:
        props = dict(data["succinctProperties"])
    else:
        props = {k: v.get("value") for k, v in (data.get("properties") or {}).items()}
    return Node(str(props.get("cmis:objectId")), str(props.get("cmis:baseTypeId")), props)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _TimeoutAdapter(HTTPAdapter):
    """requests has no session-wide timeout; cmislib passes none, so every request gets this one."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _fault(exc: CmisException) -> CmisFault:
    details = str(getattr(exc, "details", "") or "")
    name, message = "runtime", details.strip()[:500]
    try:
        body = json.loads(details)
    except ValueError:
        body = None
    if isinstance(body, dict):
        name = str(body.get("exception") or name)
        message = str(body.get("message") or "")
    return CmisFault(name, getattr(exc, "status", None), message)


class CmisSession:
    """One authenticated connection to one repository behind a Browser Binding service URL."""

    def __init__(
        self,
        url: str,
        *,
        username: str,
        password: str,
        repository_id: str | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        allow_http: bool = False,
        max_content_bytes: int | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url: {url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise ConfigError("url: must not contain credentials; use username and password_env")
        if parts.scheme == "http" and not (allow_http or _loopback(parts.hostname)):
            raise ConfigError(f"url: {url!r} would send the password in clear text; use https (or allow_http)")
        self.url = url.rstrip("/")
        self.username = username
        self.max_content_bytes = max_content_bytes
        # bytes, so that requests sends the credentials as UTF-8 (RFC 7617) rather than latin-1
        self._client = CmisClient(
            self.url, username.encode("utf-8"), password.encode("utf-8"), binding=BrowserBinding()
        )
        self._client.extArgs = {}  # cmislib would send its binding object as a query parameter
        session: requests.Session = self._client.session
        session.verify = verify
        adapter = _TimeoutAdapter(timeout)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        self._repository_id = repository_id
        self._repo: Any = None

    def describe(self) -> str:
        return f"{self.url} as {self.username}"

    def close(self) -> None:
        self._session.close()

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        try:
            yield
        except CmisException as exc:
            status = getattr(exc, "status", None)
            if status == 401:
                raise AuthenticationFailed(f"{self.describe()}: the CMIS server refused the credentials") from None
            if isinstance(status, int) and status >= 500:
                fault = _fault(exc)
                raise Unavailable(f"{self.describe()}: {what}: server error {status} ({fault})") from None
            raise _fault(exc) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            kind = "timed out" if isinstance(exc, requests.Timeout) else "unreachable"
            raise Unavailable(f"{self.describe()}: {what}: the CMIS server is {kind}") from None
        except requests.RequestException as exc:
            raise Unavailable(f"{self.describe()}: {what}: {type(exc).__name__}") from None

    # -- repository ------------------------------------------------------------------------------------

    @property
    def repo(self) -> Any:
        if self._repo is None:
            with self._calls("repository info"):
                if self._repository_id:
                    self._repo = self._client.getRepository(self._repository_id)
                else:
                    self._repo = self._client.getDefaultRepository()
            if self._repo is None:
                raise ConfigError(f"url: {self.url} lists no CMIS repository")
        return self._repo

    def info(self) -> dict[str, Any]:
        return dict(self.repo.data)

    def type_definition(self, type_id: str) -> dict[str, Any] | None:
        """The type's definition, or None when the repository does not define it."""
        try:
            with self._calls(f"type {type_id}"):
                return dict(self.repo.getTypeDefinition(type_id).data)
        except CmisFault as fault:
            if fault.name in ("objectNotFound", "invalidArgument"):
                return None
            raise

    # -- reading ---------------------------------------------------------------------------------------

    def _get(self, url: str, **params: Any) -> Any:
        return self._client.binding.get(url, self._session, **params)

    def by_path(self, path: str) -> Node:
        with self._calls(f"get {path}"):
            return node_of(self.repo.getObjectByPath(path).data)

    def get(self, object_id: str) -> Node:
        with self._calls(f"get {object_id}"):
            return node_of(self._get(self.repo.getRootFolderUrl(), objectId=object_id, cmisselector="object"))

    def children(self, folder_id: str) -> list[Node]:
        out: list[Node] = []
        skip = 0
        with self._calls(f"children of {folder_id}"):
            while True:
                page = self._get(
                    self.repo.getRootFolderUrl(),
                    objectId=folder_id,
                    cmisselector="children",
                    skipCount=skip,
                    maxItems=500,
                )
                objects = page.get("objects") or []
                out.extend(node_of(item["object"]) for item in objects)
                skip += len(objects)
                if not page.get("hasMoreItems") or not objects:
                    return out

    def versions(self, document_id: str) -> list[Node]:
        """All versions of the document's series, oldest first, without a private working copy."""
        with self._calls(f"versions of {document_id}"):
            data = self._get(self.repo.getRootFolderUrl(), objectId=document_id, cmisselector="versions")
        nodes = [node_of(item) for item in data]
        nodes = [n for n in nodes if not n.props.get("cmis:isPrivateWorkingCopy")]
        return list(reversed(nodes))

    def query(self, statement: str) -> list[Node]:
        with self._calls("query"):
            result = self.repo.query(statement, maxItems=1000)
            return [node_of(obj.data) for obj in result.getResults()]

    def download(self, document_id: str, dest: Path) -> int:
        """Stream the document's content into ``dest``; the size limit is checked while reading."""
        params = {"objectId": document_id, "cmisselector": "content"}
        written = 0
        url = self.repo.getRootFolderUrl()
        with (
            self._calls(f"content of {document_id}"),
            self._session.get(url, params=params, stream=True) as response,
            dest.open("wb") as out,
        ):
            for chunk in response.iter_content(_CHUNK):
                written += len(chunk)
                if self.max_content_bytes is not None and written > self.max_content_bytes:
                    raise CmisFault("constraint", None, f"content of {document_id} exceeds the size limit")
                out.write(chunk)
        return written

    # -- writing ---------------------------------------------------------------------------------------

    def _post(self, data: Any) -> Node:
        if not isinstance(data, dict):
            raise CmisFault("runtime", None, "the server answered without the object")
        return node_of(data)

    def create_folder(self, parent_id: str, name: str, props: Mapping[str, Any]) -> Node:
        with self._calls(f"create folder {name!r}"):
            parent = BrowserFolder(self._client, self.repo, parent_id)
            return self._post(parent.createFolder(name, dict(props)).data)

    def create_document(
        self, parent_id: str, name: str, props: Mapping[str, Any], content: BinaryIO | None, mime: str | None
    ) -> Node:
        with self._calls(f"create document {name!r}"):
            parent = BrowserFolder(self._client, self.repo, parent_id)
            created = parent.createDocument(name, dict(props), contentFile=content, contentType=mime)
            return self._post(created.data)

    def check_out(self, document_id: str) -> Node:
        with self._calls(f"check out {document_id}"):
            return self._post(BrowserDocument(self._client, self.repo, document_id).checkout().data)

    def check_in(self, pwc_id: str, props: Mapping[str, Any], content: BinaryIO | None, mime: str | None) -> Node:
        """A new major version from the working copy. cmislib's checkin sends single values only, so the
        secondary types (multi-valued) are left as the working copy has them, which is as they were."""
        props = {k: v for k, v in props.items() if k != "cmis:secondaryObjectTypeIds"}
        if any(isinstance(v, list | tuple) for v in props.values()):
            raise CmisFault("invalidArgument", None, "multi-valued properties cannot be set on check-in")
        with self._calls(f"check in {pwc_id}"):
            doc = BrowserDocument(self._client, self.repo, pwc_id)
            return self._post(doc.checkin(contentFile=content, contentType=mime, properties=dict(props)).data)

    def cancel_check_out(self, document_id: str) -> None:
        with self._calls(f"cancel check-out of {document_id}"):
            BrowserDocument(self._client, self.repo, document_id).cancelCheckout()

    def update(self, object_id: str, props: Mapping[str, Any]) -> Node:
        with self._calls(f"update {object_id}"):
            doc = BrowserDocument(self._client, self.repo, object_id)
            return self._post(doc.updateProperties(dict(props)).data)

    def move(self, object_id: str, source_id: str, target_id: str) -> None:
        with self._calls(f"move {object_id}"):
            obj = BrowserFolder(self._client, self.repo, object_id)
            obj.move(
                BrowserFolder(self._client, self.repo, source_id), BrowserFolder(self._client, self.repo, target_id)
            )

    def delete(self, object_id: str) -> None:
        with self._calls(f"delete {object_id}"):
            BrowserDocument(self._client, self.repo, object_id).delete()

    def delete_tree(self, folder_id: str) -> None:
        with self._calls(f"delete tree {folder_id}"):
            BrowserFolder(self._client, self.repo, folder_id).deleteTree()

    def ensure_folder(self, path: str, folder_type: str = "cmis:folder") -> Node:
        """The folder at ``path``, created (with missing parents) when it does not exist yet."""
        try:
            return self.by_path(path)
        except CmisFault as fault:
            if fault.name != "objectNotFound":
                raise
        parent_path, _, name = path.rstrip("/").rpartition("/")
        parent = self.ensure_folder(parent_path or "/", folder_type)
        try:
            return self.create_folder(parent.id, name, {"cmis:objectTypeId": folder_type})
        except CmisFault as fault:
            if fault.name == "nameConstraintViolation":  # created meanwhile by someone else
                return self.by_path(path)
            raise
