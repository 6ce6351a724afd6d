"""Authentication, scopes and isolation for EVERY route of the app's route table.

``ROUTES`` says for each route how to call it and what another authority's token must get. The first
test compares it with the app's routes, so a new route fails the suite until it is listed here (and so
tested). The XTA ports are a different face with their own caller identity (client certificates,
tests/xta) and are excluded by their base path.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlmodel import Session

from gateway.participants.tokens import Scope, create_token, revoke_token
from gateway.pipeline.lifecycle import transition
from gateway.store.models import Message, MessageState
from tests.api.support import ALTENBURG, ALTENBURG_PARTY, ARCHIVE, GOTHA, OPERATOR, Gateway, assert_problem, offer

XTA_PREFIX = "/services/XTAService"


@dataclasses.dataclass(frozen=True)
class Fixture:
    """What the access tests need from the gateway: Gotha's message, Altenburg's message."""

    gotha_message: dict[str, Any]
    altenburg_message: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RouteSpec:
    """``scopes``: any of these admits (empty: any valid token; None: public). ``isolation``: what a token of
    another authority (with every non-admin scope) gets for Gotha's resource."""

    scopes: tuple[Scope, ...] | None
    isolation: str  # "404" | "filtered" | "admin-only" | "own-identity" | "stateless" | "public" | "none"
    request: Callable[[Fixture], dict[str, Any]]


def _message_path(suffix: str = "") -> Callable[[Fixture], dict[str, Any]]:
    return lambda f: {"url": f"/api/v1/messages/{f.gotha_message['id']}{suffix}"}


ROUTES: dict[tuple[str, str], RouteSpec] = {
    ("GET", "/healthz"): RouteSpec(None, "public", lambda f: {"url": "/healthz"}),
    ("GET", "/readyz"): RouteSpec(None, "public", lambda f: {"url": "/readyz"}),
    ("GET", "/metrics"): RouteSpec((Scope.ADMIN,), "admin-only", lambda f: {"url": "/metrics"}),
    # what a browser finds without a token: the landing page, the API's documentation (no data in them)
    ("GET", "/"): RouteSpec(None, "public", lambda f: {"url": "/"}),
    ("GET", "/docs"): RouteSpec(None, "public", lambda f: {"url": "/docs"}),
    ("GET", "/docs/assets/{name}"): RouteSpec(None, "public", lambda f: {"url": "/docs/assets/swagger-ui.css"}),
    ("GET", "/openapi.json"): RouteSpec(None, "public", lambda f: {"url": "/openapi.json"}),
    ("GET", "/api/v1/openapi.json"): RouteSpec(None, "public", lambda f: {"url": "/api/v1/openapi.json"}),
    ("POST", "/api/v1/messages"): RouteSpec(
        (Scope.SUBMIT,), "own-identity", lambda f: {"url": "/api/v1/messages", "content": offer(301)[1]}
    ),
    ("POST", "/api/v1/validate"): RouteSpec(
        (Scope.SUBMIT,), "stateless", lambda f: {"url": "/api/v1/validate", "content": offer(302)[1]}
    ),
    ("GET", "/api/v1/messages"): RouteSpec((Scope.READ,), "filtered", lambda f: {"url": "/api/v1/messages"}),
    ("GET", "/api/v1/messages/{message_id}"): RouteSpec((Scope.READ,), "404", _message_path()),
    ("GET", "/api/v1/messages/{message_id}/payload"): RouteSpec((Scope.READ,), "404", _message_path("/payload")),
    ("GET", "/api/v1/messages/{message_id}/dms-objects"): RouteSpec(
        (Scope.READ,), "404", _message_path("/dms-objects")
    ),
    ("POST", "/api/v1/messages/{message_id}/cancel"): RouteSpec((Scope.SUBMIT,), "404", _message_path("/cancel")),
    ("POST", "/api/v1/messages/{message_id}/retry"): RouteSpec((Scope.ADMIN,), "404", _message_path("/retry")),
    ("POST", "/api/v1/messages/{message_id}/requeue"): RouteSpec((Scope.ADMIN,), "404", _message_path("/requeue")),
    ("GET", "/api/v1/processes/{process_id}"): RouteSpec(
        (Scope.READ,), "404", lambda f: {"url": f"/api/v1/processes/{f.gotha_message['process_id']}"}
    ),
    ("GET", "/api/v1/participants"): RouteSpec((Scope.ADMIN,), "admin-only", lambda f: {"url": "/api/v1/participants"}),
    ("GET", "/api/v1/participants/{participant_id}"): RouteSpec(
        (Scope.ADMIN,), "admin-only", lambda f: {"url": f"/api/v1/participants/{GOTHA}"}
    ),
    ("PUT", "/api/v1/participants/{participant_id}"): RouteSpec(
        (Scope.ADMIN,),
        "admin-only",
        lambda f: {
            "url": f"/api/v1/participants/{GOTHA}",
            "json": {"id": GOTHA, "name": "Landratsamt Gotha", "signature_policy": "accept"},
        },
    ),
}
ROUTE_IDS = [f"{m} {p}" for m, p in ROUTES]


CONSOLE_PREFIX = "/console"  # session-cookie pages: tests/console/test_console.py checks each one needs sign-in


def _walk(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if getattr(route, "path", "").startswith(CONSOLE_PREFIX):
            continue
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI keeps it as one entry)
            yield from _walk(route.original_router.routes)
        else:
            raise AssertionError(f"unexpected route {route!r}: list it in ROUTES or teach this walk")


def app_routes(gateway: Gateway) -> set[tuple[str, str]]:
    found = set()
    for route in _walk(list(gateway.app.routes)):
        if route.path.startswith(XTA_PREFIX):
            continue
        for method in route.methods:
            found.add((method, route.path))
    return found


def test_every_route_of_the_app_is_in_the_access_table(gateway: Gateway) -> None:
    assert app_routes(gateway) == set(ROUTES), "list new routes in ROUTES (and so test their access rules)"


@pytest.fixture(scope="module")
def fixture(gateway: Gateway) -> Fixture:
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT, Scope.READ)) as client:
        name, data = offer(300)
        gotha = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
    with gateway.client(gateway.token(ALTENBURG, Scope.SUBMIT, Scope.READ)) as client:
        name, data = offer(310, sender=ALTENBURG_PARTY)  # another seed: another ProzessID
        altenburg = client.post("/api/v1/messages", content=data, headers={"X-Filename": name})
    assert gotha.status_code == 201, gotha.text
    assert altenburg.status_code == 201, altenburg.text
    return Fixture(gotha.json(), altenburg.json())


def _call(gateway: Gateway, key: tuple[str, str], fixture: Fixture, token: str | None) -> httpx.Response:
    method, _ = key
    spec = ROUTES[key]
    with gateway.client(token) as client:
        return client.request(method, **spec.request(fixture))


@pytest.mark.parametrize("key", list(ROUTES), ids=ROUTE_IDS)
def test_without_a_token(gateway: Gateway, fixture: Fixture, key: tuple[str, str]) -> None:
    response = _call(gateway, key, fixture, None)
    if ROUTES[key].scopes is None:
        assert response.status_code == 200, response.text
        return
    problem = assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in problem["detail"]


@pytest.mark.parametrize("key", [k for k in ROUTES if ROUTES[k].scopes is not None], ids=lambda k: f"{k[0]} {k[1]}")
def test_with_a_wrong_or_revoked_token(gateway: Gateway, fixture: Fixture, key: tuple[str, str]) -> None:
    valid = gateway.token(GOTHA, Scope.SUBMIT, Scope.READ, Scope.ADMIN)
    with Session(gateway.ctx.engine) as session:
        revoked = create_token(session, GOTHA, [Scope.SUBMIT, Scope.READ, Scope.ADMIN], name="to revoke")
        revoke_token(session, revoked.id)
        session.commit()
    for token in ("xgw_" + "A" * 43, valid[:-1], valid + "x", "not-even-prefixed", revoked.secret):
        assert_problem(_call(gateway, key, fixture, token), 401, "unauthorized")


@pytest.mark.parametrize("key", [k for k in ROUTES if ROUTES[k].scopes], ids=lambda k: f"{k[0]} {k[1]}")
def test_without_the_scope(gateway: Gateway, fixture: Fixture, key: tuple[str, str]) -> None:
    needed = ROUTES[key].scopes or ()
    lacking = tuple(s for s in (Scope.SUBMIT, Scope.READ) if s not in needed)
    assert lacking, "a route open to both submit and read would need no scope test"
    problem = assert_problem(_call(gateway, key, fixture, gateway.token(GOTHA, *lacking)), 403, "forbidden")
    assert any(s.value in problem["detail"] for s in needed)


@pytest.mark.parametrize("key", list(ROUTES), ids=ROUTE_IDS)
def test_another_authority_sees_nothing_of_gotha(gateway: Gateway, fixture: Fixture, key: tuple[str, str]) -> None:
    """Altenburger Land, with every non-admin scope, against Gotha's message, process and entry."""
    spec = ROUTES[key]
    stranger = gateway.token(ALTENBURG, Scope.SUBMIT, Scope.READ)
    response = _call(gateway, key, fixture, stranger)
    gotha_id = fixture.gotha_message["id"]
    if spec.isolation == "404":
        problem = assert_problem(response, 404, "not-found")
        assert gotha_id not in response.text.replace(problem["instance"], "").replace(problem["detail"], "")
        # the same answer as for an id that does not exist at all
        missing = _call(
            gateway,
            key,
            dataclasses.replace(
                fixture, gotha_message={"id": "0" * 8 + "-0000-4000-8000-" + "0" * 12, "process_id": "0" * 36}
            ),
            stranger,
        )
        assert missing.status_code == 404
        assert missing.json()["title"] == problem["title"]
    elif spec.isolation == "filtered":
        assert response.status_code == 200
        ids = {m["id"] for m in response.json()["items"]}
        assert fixture.altenburg_message["id"] in ids
        assert gotha_id not in ids
        for query in ({"participant": GOTHA}, {"process": fixture.gotha_message["process_id"]}, {"type": "0501"}):
            with gateway.client(stranger) as client:
                filtered = client.get("/api/v1/messages", params=query).json()["items"]
            assert gotha_id not in {m["id"] for m in filtered}
    elif spec.isolation == "admin-only":
        assert_problem(response, 403, "forbidden")
    elif spec.isolation == "own-identity":
        # submitting Gotha's message with Altenburg's token is a forged sender, never a message of Gotha's
        assert_problem(response, 403, "forged-sender")
    elif spec.isolation in ("stateless", "none") or spec.isolation == "public":
        assert response.status_code == 200
        assert gotha_id not in response.text
    else:
        pytest.fail(f"unknown isolation rule {spec.isolation}")


def test_the_recipient_sees_the_message_once_sent_and_the_operator_sees_all(gateway: Gateway, fixture: Fixture) -> None:
    gotha_id = fixture.gotha_message["id"]
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        name, data = offer(320)
        sent_id = client.post("/api/v1/messages", content=data, headers={"X-Filename": name}).json()["id"]
    with Session(gateway.ctx.engine, expire_on_commit=False) as session:
        row = session.get(Message, uuid.UUID(sent_id))
        assert row is not None
        for state in (MessageState.QUEUED, MessageState.SENT):
            transition(session, row, state, "test", f"test moves it to {state.value}")
    with gateway.client(gateway.token(ARCHIVE, Scope.READ)) as archive:
        # not yet sent: the recipient sees nothing of it (issue 10, item 6; tests/api/test_visibility.py)
        assert archive.get(f"/api/v1/messages/{gotha_id}").status_code == 404
        assert archive.get(f"/api/v1/messages/{sent_id}").status_code == 200
        assert archive.get(f"/api/v1/messages/{sent_id}/payload").status_code == 200
        listed = {m["id"] for m in archive.get("/api/v1/messages").json()["items"]}
        assert sent_id in listed and gotha_id not in listed
        # a recipient may read, but not cancel the sender's message
        assert_problem(
            httpx.post(
                f"{gateway.url}/api/v1/messages/{sent_id}/cancel",
                headers={"Authorization": f"Bearer {gateway.token(ARCHIVE, Scope.SUBMIT, Scope.READ)}"},
            ),
            403,
            "forbidden",
        )
    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as operator:
        listed = {m["id"] for m in operator.get("/api/v1/messages", params={"limit": 200}).json()["items"]}
        assert {gotha_id, sent_id, fixture.altenburg_message["id"]} <= listed
