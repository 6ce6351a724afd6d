"""The request side of the console: templates, the per-request :class:`Page`, sign-in and CSRF checks.

Pages answer HTML. A visitor who is not signed in is sent to the sign-in page; a message or participant
the user may not see is the same 404 page as one that does not exist.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.api.state import ApiState, api_state
from gateway.console.guard import FORM_TYPE, media_type
from gateway.console.health import AdapterHealthCache
from gateway.console.i18n import LANG_COOKIE, pick_language, translate
from gateway.console.metrics import ConsoleMetrics
from gateway.console.session import SessionCodec, SessionData, new_session
from gateway.console.users import ConsoleAccount, current_account

TEMPLATES = Path(__file__).parent / "templates"
PREFIX = "/console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_FIELDS = 100


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in user; answered with a redirect to the sign-in page."""


class ConsoleNotFound(Exception):
    """Answered with the console's 404 page (also for what exists but the user may not see)."""


class ConsoleForbidden(Exception):
    """Answered with 403: the user is signed in but the role does not allow this."""


class CsrfFailed(Exception):
    """Answered with 403: a POST without the session's CSRF token."""


class FormRefused(Exception):
    """Answered with ``status``: a form body that is not urlencoded (415) or has too many fields (413).

    :class:`gateway.console.guard.ConsoleGuard` refuses such bodies before the app; this is the same rule
    where the form is read, so a route reached some other way cannot fall back to a spooling parser."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


def make_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False)
    env.filters["age"] = _age
    env.filters["when"] = _when
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    return env


@dataclass
class ConsoleState:
    codec: SessionCodec
    metrics: ConsoleMetrics
    env: Environment = field(default_factory=make_environment)
    adapter_health: AdapterHealthCache = field(default_factory=AdapterHealthCache)


@dataclass
class Page:
    request: Request
    state: ApiState
    console: ConsoleState
    session: SessionData
    user: ConsoleAccount | None
    lang: str

    def t(self, key: str) -> str:
        return translate(self.lang, key)

    @property
    def client(self) -> str | None:
        return self.request.client.host if self.request.client else None

    def finish(self, response: Response) -> Response:
        """The session cookie and the language choice; the security headers are the guard's."""
        self.console.codec.store(self.request, response, self.session)
        chosen = self.request.query_params.get("lang")
        if chosen == self.lang:
            response.set_cookie(
                LANG_COOKIE,
                self.lang,
                max_age=365 * 86400,
                path=PREFIX,
                samesite="strict",
                httponly=True,
                secure=self.request.url.scheme == "https",
            )
        return response

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        body = self.console.env.get_template(template).render(
            page=self, t=self.t, user=self.user, csrf=self.session.csrf, lang=self.lang, prefix=PREFIX, **values
        )
        return self.finish(HTMLResponse(body, status_code=status))

    def redirect(self, url: str) -> Response:
        if self.request.headers.get("hx-request"):
            response: Response = Response(status_code=204, headers={"HX-Redirect": url})
        else:
            response = RedirectResponse(url, status_code=303)
        return self.finish(response)

    async def form(self) -> dict[str, str]:
        """The POSTed urlencoded form after the CSRF check (token in the form or in the X-CSRF-Token header).

        The body is at most ``console.max_form_bytes`` (the guard refused a larger one while receiving it),
        so it is read whole and parsed here; multipart is never parsed."""
        body = await self.request.body()
        if body and media_type(self.request.headers.get("content-type", "")) != FORM_TYPE:
            raise FormRefused(415)
        try:
            pairs = parse_qsl(
                body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="replace"
            )
        except ValueError:
            raise FormRefused(413) from None
        values = dict(pairs)
        sent = values.get(CSRF_FIELD) or self.request.headers.get(CSRF_HEADER) or ""
        if not hmac.compare_digest(sent.encode(), self.session.csrf.encode()):
            raise CsrfFailed
        return values


def console_state(request: Request) -> ConsoleState:
    state = request.app.state.xgw_console
    assert isinstance(state, ConsoleState)
    return state


def page(request: Request) -> Page:
    state = api_state(request)
    console = console_state(request)
    session = console.codec.load(request)
    user = None
    if session.user_uid is not None:
        user = current_account(state.engine, state.settings, session.user_uid, session.generation)
        if user is None:  # ended: signed out, removed, new role or password -- forget it, keep nothing of it
            session = new_session()
    return Page(request, state, console, session, user, pick_language(request))


def signed_in(request: Request) -> Page:
    current = page(request)
    if current.user is None:
        raise SignInRequired
    request.state.principal_name = current.user.name
    return current
