"""Sign-in and sign-out. A failed sign-in is audited and counted; repeated failures are throttled per user name
and client address and per client address (see :mod:`gateway.console.users`), so a stranger's guessing
cannot lock an administrator out. Signing out ends every session of the user, also a copied cookie.

With ``console_ldap.enabled`` a name that is not a local user is checked against the directory
(:mod:`gateway.console.directory`) in the same form, under the same throttle and audit; a directory
that cannot be asked is a 503 with a message, never a fall-back to anything weaker."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.console import audit
from gateway.console.directory import Directory, DirectoryError
from gateway.console.session import new_session
from gateway.console.users import (
    ConsoleAccount,
    check_sign_in,
    directory_sign_in,
    end_session_of,
    is_local_user,
    recent_failures,
)
from gateway.console.web import PREFIX, Page, page, signed_in

log = logging.getLogger("gateway.console.auth")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/login")
def login_form(current: Annotated[Page, Depends(page)]) -> Response:
    if current.user is not None:
        return current.redirect(f"{PREFIX}/")
    return current.render("login.html")


@router.post("/login")
async def login(current: Annotated[Page, Depends(page)]) -> Response:
    form = await current.form()
    name = form.get("username", "").strip()[:128]
    password = form.get("password", "")
    engine = current.state.engine
    settings = current.state.settings.console
    failures = recent_failures(engine, name, current.client)
    if failures.of_name >= settings.max_failed_logins or failures.of_address >= settings.max_failed_logins_per_address:
        audit.record(engine, name or "-", "sign-in", result=audit.REFUSED, detail="throttled", client=current.client)
        current.console.metrics.sign_in_failures.inc()
        return current.render("login.html", status=429, error=current.t("throttled"), username=name)
    user: ConsoleAccount | None = None
    reason = "wrong name or password"
    ldap = current.state.settings.console_ldap
    if not ldap.enabled or is_local_user(engine, name) or is_local_user(engine, name.casefold()):
        user = check_sign_in(engine, name, password)
    else:
        try:
            verdict = await run_in_threadpool(Directory(ldap).authenticate, name, password)
        except DirectoryError as exc:
            log.warning("directory sign-in of %s not possible: %s", name, exc)
            audit.record(engine, name or "-", "sign-in", result=audit.REFUSED, detail=str(exc), client=current.client)
            return current.render("login.html", status=503, error=current.t("directory_unreachable"), username=name)
        reason = verdict.reason
        if verdict.user is not None:
            found = verdict.user
            # directory names are case-insensitive (uid, sAMAccountName): one record however it was typed
            user = directory_sign_in(engine, name.casefold(), found.role, found.participant, found.email)
            reason = "a local user has this name" if user is None else reason
    if user is None:
        audit.record(engine, name or "-", "sign-in", result=audit.FAILED, detail=reason, client=current.client)
        current.console.metrics.sign_in_failures.inc()
        return current.render("login.html", status=401, error=current.t("sign_in_failed"), username=name)
    current.session = new_session()  # a fresh CSRF token: no session fixation
    current.session.user_uid, current.session.generation = user.uid, user.generation
    audit.record(engine, user.name, "sign-in", client=current.client)
    return current.redirect(f"{PREFIX}/")


@router.post("/logout")
async def logout(current: Annotated[Page, Depends(signed_in)]) -> Response:
    await current.form()
    assert current.user is not None
    if current.session.user_uid is not None:
        end_session_of(current.state.engine, current.session.user_uid, current.session.generation)
    audit.record(current.state.engine, current.user.name, "sign-out", client=current.client)
    current.session = new_session()
    return current.redirect(f"{PREFIX}/login")
