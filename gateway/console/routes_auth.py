"""Sign-in and sign-out. A failed sign-in is audited and counted; repeated failures are throttled per user name
and client address and per client address (see :mod:`gateway.console.users`), so a stranger's guessing
cannot lock an administrator out. Signing out ends every session of the user, also a copied cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from gateway.console import audit
from gateway.console.session import new_session
from gateway.console.users import check_sign_in, end_session_of, recent_failures
from gateway.console.web import PREFIX, Page, page, signed_in

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
    user = check_sign_in(engine, name, password)
    if user is None:
        audit.record(
            engine, name or "-", "sign-in", result=audit.FAILED, detail="wrong name or password", client=current.client
        )
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
