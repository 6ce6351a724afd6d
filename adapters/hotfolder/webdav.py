"""A transfer directory on a WebDAV(S) server, spoken with plain httpx (PROPFIND, GET, PUT, MKCOL, MOVE, DELETE).

Why not a WebDAV client library: the hotfolder needs six verbs, but it needs exact control over two of
them. A package becomes visible with ``MOVE`` from its temporary name and ``Overwrite: F``, so that the
server refuses (412) instead of replacing a package the DMS has not read; and uploads are streamed with a
declared length, so a multi-GiB package costs no memory. httpx (already used by the gateway) gives both
directly, with timeouts and connection pooling; ``webdav4`` would add fsspec and hide those headers.

Credentials: Basic auth, sent only over HTTPS (plain HTTP is accepted on loopback only, for tests and
local sidecars); the password comes from the environment and appears in no message and no log line.
Errors become :class:`~adapters.base.Unavailable` (server unreachable or 5xx: retry) or
:class:`~adapters.base.AuthenticationFailed` (401/403: fix the configuration).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx
from lxml import etree

from adapters.base import AdapterError, AuthenticationFailed, ConfigError, Unavailable
from adapters.hotfolder.storage import AlreadyExists, Entry, Storage, join, temp_name
from gateway.xoev.limits import Limits
from gateway.xoev.parsing.safe_xml import XmlRejected, parse_xml

_CHUNK = 1 << 20
DAV = "{DAV:}"
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getcontentlength/>'
    b"<d:getlastmodified/><d:getetag/></d:prop></d:propfind>"
)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebDavStorage(Storage):
    def __init__(
        self,
        url: str,
        *,
        username: str | None,
        password: str | None,
        limits: Limits,
        timeout: float = 30.0,
        verify: bool | str = True,
        allow_http: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url: {url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise ConfigError("url: must not contain credentials; use username and password_env")
        if parts.scheme == "http" and not (allow_http or _loopback(parts.hostname)):
            raise ConfigError(f"url: {url!r} would send the password in clear text; use https (or allow_http)")
        self.base = url if url.endswith("/") else url + "/"
        self._base_path = unquote(urlsplit(self.base).path)
        self.username = username
        self.limits = limits
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._client = httpx.Client(auth=auth, timeout=timeout, verify=verify, transport=transport)

    def describe(self) -> str:
        user = f" as {self.username}" if self.username else ""
        return f"{self.base}{user}"

    def close(self) -> None:
        self._client.close()

    # -- HTTP ----------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base + "/".join(quote(seg, safe="") for seg in path.split("/") if seg)

    def _request(self, method: str, path: str, ok: tuple[int, ...], **kwargs: object) -> httpx.Response:
        url = kwargs.pop("url", None) or self.url(path)
        try:
            response = self._client.request(method, str(url), **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            raise Unavailable(f"WebDAV server {self.base} unreachable ({method} {path or '/'}: {exc!r})") from None
        return self._check(response, method, path, ok)

    def _check(self, response: httpx.Response, method: str, path: str, ok: tuple[int, ...]) -> httpx.Response:
        code = response.status_code
        if code in ok:
            return response
        where = f"{method} {path or '/'}"
        if code == 401:
            who = f"user {self.username!r}" if self.username else "anonymous access"
            raise AuthenticationFailed(f"the WebDAV server {self.base} refused {who} (HTTP 401 on {where})")
        if code == 403:
            raise AuthenticationFailed(f"the WebDAV server {self.base} forbids {where} (HTTP 403)")
        if code >= 500:
            raise Unavailable(f"the WebDAV server {self.base} failed {where} (HTTP {code})")
        raise AdapterError(f"the WebDAV server {self.base} answered HTTP {code} to {where}")

    def _propfind(self, path: str, depth: str) -> list[tuple[str, Entry]] | None:
        response = self._request(
            "PROPFIND",
            path,
            (207, 404),
            content=PROPFIND_BODY,
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
        )
        if response.status_code == 404:
            return None
        try:
            tree = parse_xml(response.content, self.limits, source=f"PROPFIND {path}")
        except XmlRejected as exc:
            raise AdapterError(f"the WebDAV server {self.base} sent an unreadable listing: {exc}") from None
        out = []
        for resp in tree.getroot().iter(f"{DAV}response"):
            href = unquote(urlsplit(resp.findtext(f"{DAV}href") or "").path)
            prop = _ok_prop(resp)
            if prop is None:
                continue
            is_dir = prop.find(f"{DAV}resourcetype/{DAV}collection") is not None
            size = int(prop.findtext(f"{DAV}getcontentlength") or 0)
            stamp = f"{prop.findtext(f'{DAV}getlastmodified') or ''}|{prop.findtext(f'{DAV}getetag') or ''}"
            name = href.rstrip("/").rsplit("/", 1)[-1]
            out.append((href.rstrip("/"), Entry(name, size, stamp, is_dir)))
        return out

    # -- Storage -------------------------------------------------------------------------------------

    def list(self, folder: str) -> list[Entry]:
        found = self._propfind(folder, "1")
        if found is None:
            return []
        own = (self._base_path + folder).rstrip("/")
        return sorted((e for href, e in found if href != own), key=lambda e: e.name)

    def exists(self, path: str) -> bool:
        return self._propfind(path, "0") is not None

    def ensure_dir(self, folder: str) -> None:
        done = ""
        for segment in [s for s in folder.split("/") if s]:
            done = join(done, segment)
            # 201 created; 405 it exists already (RFC 4918 9.3.1)
            self._request("MKCOL", done + "/", (201, 405), url=self.url(done) + "/")

    def download(self, path: str, dest: Path) -> None:
        try:
            with self._client.stream("GET", self.url(path)) as response:
                self._check(response, "GET", path, (200,))
                with dest.open("wb") as fh:
                    for chunk in response.iter_bytes(_CHUNK):
                        fh.write(chunk)
        except httpx.TransportError as exc:
            raise Unavailable(f"WebDAV server {self.base} unreachable (GET {path}: {exc!r})") from None

    def local_path(self, path: str) -> Path | None:
        return None

    def upload_temp(self, folder: str, name: str, source: Path) -> str:
        self.ensure_dir(folder)
        temp = join(folder, temp_name(name))
        size = source.stat().st_size

        def body() -> Iterator[bytes]:
            with source.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk

        self._request(
            "PUT",
            temp,
            (200, 201, 204),
            content=body(),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        return temp

    def rename(self, src: str, dst: str) -> None:
        response = self._request(
            "MOVE",
            src,
            (201, 204, 412),
            headers={"Destination": self.url(dst), "Overwrite": "F"},
        )
        if response.status_code == 412:
            raise AlreadyExists(dst)

    def remove(self, path: str) -> None:
        self._request("DELETE", path, (200, 204, 404))


def _ok_prop(response: etree._Element) -> etree._Element | None:
    """The ``prop`` of the propstat that answered 200 (servers list missing properties under 404)."""
    for propstat in response.iter(f"{DAV}propstat"):
        status = propstat.findtext(f"{DAV}status") or ""
        if " 200 " in status + " ":
            return propstat.find(f"{DAV}prop")
    return None
