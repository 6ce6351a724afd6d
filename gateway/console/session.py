"""The console's session cookie: signed (itsdangerous, HMAC-SHA1 over a key only the gateway knows), HttpOnly,
SameSite=Strict, Secure when the console is served over https; it carries the CSRF token and, once signed
in, the user's ``uid`` (a random UUID, never reused) and session generation.

Every visitor gets a session -- before signing in it has only a CSRF token, so the sign-in form is
protected too. Signing in replaces the token (no fixation). The cookie expires with the setting
``console.session_seconds``; the signature's timestamp is checked as well, so a copied cookie dies too.
A signed cookie alone cannot be revoked, so every request also checks uid and generation against
``console_user`` (:func:`gateway.console.users.current_account`): sign-out, removal, a new role or
password end the session at once, and a removed user's cookie never names a later user. A directory
user's session also ends when the directory, asked again, no longer admits the user.
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import Settings

COOKIE = "xgw_console"
SECRET_FILE = "console-secret"  # noqa: S105  (a file name, not a secret)


@dataclass(slots=True)
class SessionData:
    csrf: str
    user_uid: uuid.UUID | None = None
    generation: int = 0
    changed: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.user_uid is None:
            return {"c": self.csrf}
        return {"c": self.csrf, "u": self.user_uid.hex, "g": self.generation}


def new_session() -> SessionData:
    return SessionData(csrf=secrets.token_urlsafe(32), changed=True)


def secret_key(settings: Settings) -> bytes:
    """The signing key, made on first use (mode 0600) so that every process of the gateway shares it."""
    path = settings.console.secret_key_file or settings.data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    key = Path(path).read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"the console key in {path} is too short (at least 32 characters)")
    return key.encode("ascii")


class SessionCodec:
    def __init__(self, key: bytes, max_age: int) -> None:
        self.serializer = URLSafeTimedSerializer(key, salt="xgw-console-session")
        self.max_age = max_age

    def load(self, request: Request) -> SessionData:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return new_session()
        try:
            data = self.serializer.loads(raw, max_age=self.max_age)
        except BadSignature:
            return new_session()
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return new_session()
        user, generation = data.get("u"), data.get("g")
        if not isinstance(user, str) or not isinstance(generation, int):
            return SessionData(csrf=data["c"])  # not signed in (or a cookie of the old, id-only format)
        try:
            uid = uuid.UUID(hex=user)
        except ValueError:
            return SessionData(csrf=data["c"])
        return SessionData(csrf=data["c"], user_uid=uid, generation=generation)

    def store(self, request: Request, response: Response, session: SessionData) -> None:
        if not session.changed:
            return
        response.set_cookie(
            COOKIE,
            self.serializer.dumps(session.to_json()),
            max_age=self.max_age,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
