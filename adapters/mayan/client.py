"""The few Mayan EDMS REST API v4 calls the adapter needs, with every failure turned into an adapter error.

Mayan answers an anonymous list request with 200 and an empty page (it filters by permission instead of
refusing), so the client logs in explicitly: with an API token when one is configured, else by obtaining
one with the username and password (``POST /api/v4/auth/token/obtain/``). A refused login is
:class:`AuthenticationFailed`; no answer, a timeout or a 5xx is :class:`Unavailable` (a retry may heal
it); any other refusal is :class:`MayanRefused` with Mayan's own words, which belong to one object.
Secrets never appear in messages or logs: errors name the method and path only.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from adapters.base import AdapterError, AuthenticationFailed, Unavailable

API = "api/v4/"
_CHUNK = 1 << 20
_THROTTLE_RETRIES = 8
_THROTTLE_MAX_WAIT = 30.0


def _retry_after(reply: httpx.Response) -> float:
    try:
        wait = float(reply.headers.get("Retry-After", "1"))
    except ValueError:
        wait = 1.0
    return min(max(wait, 0.2), _THROTTLE_MAX_WAIT)


class MayanRefused(AdapterError):
    """Mayan refused one request for a reason of its own (4xx other than 401/403): the object fails."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class MayanClient:
    """An authenticated session against one Mayan; every call has the configured timeout."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        verify: bool | str = True,
    ) -> None:
        self.base = url.rstrip("/") + "/"
        self._token = token
        self._username = username
        self._password = password
        self._http = httpx.Client(
            base_url=self.base + API,
            timeout=httpx.Timeout(timeout),
            verify=verify,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    # -- plumbing --------------------------------------------------------------------------------------

    def _login(self) -> None:
        if self._token is None:
            if not self._username or self._password is None:
                raise AuthenticationFailed(f"{self.base}: no API token and no username/password configured")
            reply = self._send(
                "POST", "auth/token/obtain/", data={"username": self._username, "password": self._password}
            )
            if reply.status_code in (400, 401, 403):
                raise AuthenticationFailed(f"{self.base}: Mayan refused the login of user {self._username!r}")
            self._check(reply, "POST auth/token/obtain/")
            self._token = str(reply.json()["token"])
        self._http.headers["Authorization"] = f"Token {self._token}"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; Mayan's rate limit (429) is waited out as it asks, a few times, before giving up."""
        for _ in range(_THROTTLE_RETRIES):
            reply = self._send_once(method, path, **kwargs)
            if reply.status_code != 429:
                return reply
            time.sleep(_retry_after(reply))
            for value in kwargs.get("files", {}).values():  # an upload is sent again from the start
                value[1].seek(0)
        return reply

    def _send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise Unavailable(f"{method} {self.base}{API}{path}: no answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Unavailable(f"{method} {self.base}{API}{path}: cannot reach Mayan ({type(exc).__name__})") from None

    def _check(self, reply: httpx.Response, what: str) -> None:
        status = reply.status_code
        if status < 400:
            return
        if status in (401, 403):
            raise AuthenticationFailed(f"{what}: Mayan answered {status} (the credentials lack access)")
        if status >= 500 or status == 429:  # 429: still throttled after waiting as asked
            raise Unavailable(f"{what}: Mayan answered {status}")
        raise MayanRefused(f"{what}: Mayan answered {status}: {reply.text[:300]}", status)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "Authorization" not in self._http.headers:
            self._login()
        reply = self._send(method, path, **kwargs)
        self._check(reply, f"{method} {path}")
        return reply

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = self.request(method, path, **kwargs)
        return reply.json() if reply.content else None

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following ``next`` links (which Mayan gives as absolute URLs)."""
        query = {"page_size": 100, **(params or {})}
        page = self.json("GET", path, params=query)
        while True:
            yield from page["results"]
            following = page.get("next")
            if not following:
                return
            if not str(following).startswith(self.base + API):
                raise Unavailable(f"GET {path}: Mayan's next page {following!r} is outside its API")
            page = self.json("GET", str(following)[len(self.base + API) :])

    # -- calls -------------------------------------------------------------------------------------------

    def ping(self) -> None:
        self.json("GET", "document_types/", params={"page_size": 1})

    def create_document(self, document_type: int, label: str, description: str) -> dict[str, Any]:
        body = {"document_type_id": document_type, "label": label[:255], "description": description}
        return dict(self.json("POST", "documents/", json=body))

    def delete_document(self, document: int) -> None:
        self.request("DELETE", f"documents/{document}/")

    def document(self, document: int) -> dict[str, Any]:
        return dict(self.json("GET", f"documents/{document}/"))

    def metadata(self, document: int) -> dict[str, tuple[int, str]]:
        """Metadata name -> (instance id, value) of one document."""
        out: dict[str, tuple[int, str]] = {}
        for item in self.pages(f"documents/{document}/metadata/"):
            out[item["metadata_type"]["name"]] = (int(item["id"]), item.get("value") or "")
        return out

    def add_metadata(self, document: int, metadata_type: int, value: str) -> int:
        body = {"metadata_type_id": metadata_type, "value": value}
        return int(self.json("POST", f"documents/{document}/metadata/", json=body)["id"])

    def set_metadata(self, document: int, instance: int, value: str) -> None:
        self.request("PATCH", f"documents/{document}/metadata/{instance}/", json={"value": value})

    def files(self, document: int) -> list[dict[str, Any]]:
        return sorted(self.pages(f"documents/{document}/files/"), key=lambda f: int(f["id"]))

    def add_file(self, document: int, path: Path, filename: str, comment: str) -> None:
        """Upload one file as the document's newest file (Mayan answers 202 without the file's id)."""
        with path.open("rb") as fh:
            self.request(
                "POST",
                f"documents/{document}/files/",
                data={"action_name": "keep", "comment": comment},
                files={"file_new": (filename, fh, "application/octet-stream")},
            )

    def download(self, document: int, file: int) -> Iterator[bytes]:
        """The file's bytes, streamed; the caller checks size and checksum."""
        path = f"documents/{document}/files/{file}/download/"
        if "Authorization" not in self._http.headers:
            self._login()
        try:
            for attempt in range(_THROTTLE_RETRIES):
                with self._http.stream("GET", path) as reply:
                    if reply.status_code == 429 and attempt + 1 < _THROTTLE_RETRIES:
                        time.sleep(_retry_after(reply))
                        continue
                    if reply.status_code >= 400:
                        reply.read()
                        self._check(reply, f"GET {path}")
                    yield from reply.iter_bytes(_CHUNK)
                    return
        except httpx.TimeoutException as exc:
            raise Unavailable(f"GET {path}: no answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Unavailable(f"GET {path}: download interrupted ({type(exc).__name__})") from None

    def find_documents(self, text: str) -> list[dict[str, Any]]:
        """Candidates whose label, description or metadata mention ``text`` (the caller checks exactly)."""
        return list(self.pages("search/documents.DocumentSearchResult/", {"q": text}))

    def cabinet(self, cabinet: int) -> dict[str, Any]:
        return dict(self.json("GET", f"cabinets/{cabinet}/"))

    def cabinets(self) -> list[dict[str, Any]]:
        return list(self.pages("cabinets/"))

    def create_cabinet(self, label: str, parent: int | None) -> dict[str, Any]:
        return dict(self.json("POST", "cabinets/", json={"label": label[:128], "parent": parent}))

    def move_cabinet(self, cabinet: int, parent: int | None) -> None:
        self.request("PATCH", f"cabinets/{cabinet}/", json={"parent": parent})

    def delete_cabinet(self, cabinet: int) -> None:
        self.request("DELETE", f"cabinets/{cabinet}/")

    def cabinet_documents(self, cabinet: int) -> list[dict[str, Any]]:
        return list(self.pages(f"cabinets/{cabinet}/documents/"))

    def add_to_cabinet(self, cabinet: int, document: int) -> None:
        self.request("POST", f"cabinets/{cabinet}/documents/add/", json={"document": document})

    def remove_from_cabinet(self, cabinet: int, document: int) -> None:
        self.request("POST", f"cabinets/{cabinet}/documents/remove/", json={"document": document})

    def document_cabinets(self, document: int) -> list[dict[str, Any]]:
        return list(self.pages(f"documents/{document}/cabinets/"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
