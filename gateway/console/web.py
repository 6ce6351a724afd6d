"""The request side of the console: templates, the per-request :class:`Page`, sign-in and CSRF checks.

Pages answer HTML. A visitor who is not signed in is sent to the sign-in page; a message or participant
the user may not see is the same 404 page as one that does not exist.

What a page shows is in the user's language (:mod:`gateway.console.i18n`): the template filters below turn
stored values into text -- states, directions, audit values and the pipeline's sentences translated, times
in Europe/Berlin (the database keeps UTC) and numbers in the language's format. Dates, times, durations and
numbers are formatted by Babel (the CLDR data every locale-aware project uses) rather than by hand, so
German gets "03.12.2026, 22:05:07" and "1.234,5" and English its own forms without a table of ours.
Filters for the templates (all take the page's language from the template context):

- ``when`` / ``local_time``: a datetime as local date and time text (``–`` for None)
- ``time_tag(dt)`` (global): the same in ``<time datetime="…Z" title="… UTC">``
- ``age``: seconds as a short duration ("5 Min.")
- ``number``: an int or float in the language's format
- ``state_label``, ``direction_label``, ``role_label``, ``audit_action``, ``audit_result``, ``label(group)``:
  an enumeration value as text (unknown values as they are)
- ``event_text``: a stored English sentence (event reason, error, refusal, audit detail), translated by
  pattern, an unknown one marked ``lang="en"``
- ``short_id(value, keep=8)`` (global): a long identifier shortened, the full value in its title and in a
  ``<details>`` with a copy button
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_decimal
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.console.guard import FORM_TYPE, media_type
from gateway.console.health import AdapterHealthCache
from gateway.console.i18n import DEFAULT_LANGUAGE, LANG_COOKIE, label, phrase, pick_language, translate
from gateway.console.metrics import ConsoleMetrics
from gateway.console.session import SessionCodec, SessionData, new_session
from gateway.console.users import ConsoleAccount, current_account
from gateway.pipeline.context import PipelineContext

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


#: the zone the console shows times in; the database keeps UTC
LOCAL_ZONE = ZoneInfo("Europe/Berlin")
LOCALES = {"de": "de_DE", "en": "en_GB"}


def _lang(context: Context) -> str:
    lang = context.get("lang")
    return lang if isinstance(lang, str) else DEFAULT_LANGUAGE


def local_time(lang: str, value: datetime | None) -> str:
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, "medium", tzinfo=LOCAL_ZONE, locale=LOCALES.get(lang, "de_DE"))


def number(lang: str, value: float | int | str) -> str:
    try:
        figure = float(value) if isinstance(value, str) and "." in value else int(value)
    except ValueError:
        return str(value)
    return format_decimal(figure, locale=LOCALES.get(lang, "de_DE"))


def age(lang: str, seconds: float) -> str:
    return format_timedelta(timedelta(seconds=int(seconds)), format="short", locale=LOCALES.get(lang, "de_DE"))


@pass_context
def _when(context: Context, value: datetime | None) -> str:
    return local_time(_lang(context), value)


@pass_context
def _time_tag(context: Context, value: datetime | None) -> Markup:
    if value is None:
        return Markup("–")
    utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    iso = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}" title="{} UTC">{}</time>').format(
        iso, iso[:-1].replace("T", " "), local_time(_lang(context), value)
    )


@pass_context
def _age(context: Context, seconds: float) -> str:
    return age(_lang(context), seconds)


@pass_context
def _number(context: Context, value: float | int | str) -> str:
    return number(_lang(context), value)


def _labeller(group: str) -> Any:
    @pass_context
    def labelled(context: Context, value: object) -> str:
        return label(_lang(context), group, value)

    return labelled


@pass_context
def _label(context: Context, value: object, group: str) -> str:
    return label(_lang(context), group, value)


@pass_context
def _event_text(context: Context, value: str | None) -> Markup:
    lang = _lang(context)
    return phrase(lang, value, lambda figure: number(lang, figure))


@pass_context
def _short_id(context: Context, value: object, keep: int = 8) -> Markup:
    """A long identifier in a line: its start, the whole in the title and, opened, in full with a copy button."""
    text = "" if value is None else str(value)
    if len(text) <= keep + 4:
        return Markup('<span class="mono nowrap">{}</span>').format(text)
    lang = _lang(context)
    return Markup(
        '<details class="shortid"><summary title="{full}"><span class="mono">{start}…</span>'
        '<span class="visually-hidden"> {show}</span></summary>'
        '<span class="mono full">{full}</span> '
        '<button type="button" class="copy" data-copy="{full}" data-done="{copied}">{copy}</button></details>'
    ).format(
        full=text,
        start=text[:keep],
        show=translate(lang, "show_full"),
        copy=translate(lang, "copy"),
        copied=translate(lang, "copied"),
    )


def make_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False)
    env.filters["age"] = _age
    env.filters["when"] = _when
    env.filters["local_time"] = _when
    env.filters["number"] = _number
    env.filters["state_label"] = _labeller("state")
    env.filters["direction_label"] = _labeller("dir")
    env.filters["role_label"] = _labeller("role")
    env.filters["audit_action"] = _labeller("audit")
    env.filters["audit_result"] = _labeller("result")
    env.filters["label"] = _label
    env.filters["event_text"] = _event_text
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    env.globals["short_id"] = _short_id
    env.globals["time_tag"] = _time_tag
    return env


@dataclass
class ConsoleState:
    """What every console page shares: the gateway's context (handed in by :func:`.mount.mount_console`)."""

    ctx: PipelineContext
    codec: SessionCodec
    metrics: ConsoleMetrics
    env: Environment = field(default_factory=make_environment)
    adapter_health: AdapterHealthCache = field(default_factory=AdapterHealthCache)


@dataclass
class Page:
    request: Request
    #: the gateway's pipeline context (settings, database, payloads)
    state: PipelineContext
    console: ConsoleState
    session: SessionData
    user: ConsoleAccount | None
    lang: str

    def t(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)

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

    def lang_url(self, lang: str) -> str:
        """This page in ``lang``: the same path and query (filters kept), ``lang`` replaced. A page answering a
        POST (a refused form) cannot be fetched again: its switch goes to the sign-in page or the dashboard."""
        if self.request.method != "GET":
            return f"{PREFIX}/{'login' if self.user is None else ''}?lang={lang}"
        query = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        return f"{self.request.url.path}?{urlencode([*query, ('lang', lang)])}"

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        other = "en" if self.lang == "de" else "de"
        body = self.console.env.get_template(template).render(
            page=self,
            t=self.t,
            user=self.user,
            csrf=self.session.csrf,
            lang=self.lang,
            other_lang=other,
            other_lang_url=self.lang_url(other),
            prefix=PREFIX,
            **values,
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
    console = console_state(request)
    state = console.ctx
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
