"""The service around the routes: problem documents for every error status, request ids, JSON logs,
health, readiness with reasons, and metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config import Settings
from gateway.observability.logs import JsonFormatter
from gateway.participants.tokens import Scope
from gateway.store.db import create_engine
from gateway.wiring import build_context, create_app
from gateway.xoev.schemas.registry import SchemaRegistry
from tests.api.support import GOTHA, OPERATOR, Gateway, assert_problem, offer, serve


def test_unknown_path_and_wrong_method_are_problems(gateway: Gateway) -> None:
    with gateway.client(gateway.token(GOTHA, Scope.READ)) as client:
        missing = assert_problem(client.get("/api/v1/nothing-here"), 404, "not-found")
        assert "/api/v1/nothing-here" in missing["detail"]
        wrong = client.delete("/api/v1/messages")
        assert_problem(wrong, 405, "method-not-allowed")
        assert set(wrong.headers["allow"].split(", ")) == {"GET", "POST"}
        bad_id = assert_problem(client.get("/api/v1/messages/not-a-uuid"), 422, "invalid-request")
        assert bad_id["errors"][0]["location"] == ["path", "message_id"]


def test_unexpected_errors_are_a_problem_without_internals(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(gateway.ctx)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: /srv/xgw/keys and SELECT * FROM api_token")

    with serve(app) as url, caplog.at_level(logging.ERROR, logger="gateway.api"):
        response = httpx.get(f"{url}/api/v1/boom", headers={"X-Request-ID": "trace-me-42"})
    problem = assert_problem(response, 500, "internal-error")
    assert problem["request_id"] == "trace-me-42"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.name == "gateway.api" and r.exc_info]
    assert logged
    assert getattr(logged[0], "request_id", None) == "trace-me-42"


def test_request_ids_are_echoed_or_made(gateway: Gateway) -> None:
    with gateway.client() as client:
        given = client.get("/healthz", headers={"X-Request-ID": "abc.DEF-123"})
        made = client.get("/healthz")
        hostile = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 200})
    assert given.headers["x-request-id"] == "abc.DEF-123"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "bad id\twith spaces" + "x" * 200
    assert len(hostile.headers["x-request-id"]) == 32


def test_access_log_is_json_with_the_request_id(gateway: Gateway) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("gateway.api.access")
    access.addHandler(handler)
    previous = access.level
    access.setLevel(logging.INFO)
    try:
        with gateway.client(gateway.token(GOTHA, Scope.READ)) as client:
            response = client.get("/api/v1/messages", headers={"X-Request-ID": "log-me-7"})
            gateway.wait_finished("GET", "/api/v1/messages", 0)
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [entry for entry in lines if entry.get("request_id") == "log-me-7"]
    assert mine, lines
    assert mine[0]["status"] == response.status_code
    assert mine[0]["route"] == "/api/v1/messages"
    assert mine[0]["level"] == "info"
    assert "xgw_" not in stream.getvalue()  # tokens never reach the log


def test_health_and_readiness(gateway: Gateway) -> None:
    with gateway.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "schemas": "ok"}}


@pytest.fixture
def unready(tmp_path: Path, settings: Settings, registry: SchemaRegistry) -> Iterator[str]:
    """A gateway on an empty (never migrated) database whose catalogue disagrees with the 3.1.0 bundle."""
    catalogue = json.loads(settings.catalogue_file.read_text(encoding="utf-8"))
    files = catalogue["versions"]["3.1.0"]["files"]
    first = next(iter(files))
    files[first] = "0" * 64
    altered = tmp_path / "catalogue.json"
    altered.write_text(json.dumps(catalogue), encoding="utf-8")
    own = settings.model_copy(
        update={"data_dir": tmp_path / "data", "database_url": f"sqlite:///{tmp_path / 'empty.db'}"}
    )
    broken_registry = SchemaRegistry.from_settings(own.model_copy(update={"catalogue_file": altered}))
    engine = create_engine(own.database_url or "")
    ctx = build_context(own, engine=engine, registry=broken_registry, migrate=False)
    try:
        with serve(create_app(ctx)) as url:
            yield url
    finally:
        engine.dispose()


def test_not_ready_says_why(unready: str) -> None:
    response = httpx.get(f"{unready}/readyz")
    problem = assert_problem(response, 503, "not-ready")
    checks = problem["checks"]
    assert checks["database"] == "ok"
    assert "needs" in checks["migrations"]
    assert "3.1.0" in checks["schemas"]
    assert "SHA-256 mismatch" in checks["schemas"]
    assert "migrations" in problem["detail"]
    assert "schemas" in problem["detail"]


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


def test_metrics(gateway: Gateway) -> None:
    name, data = offer(500)
    with gateway.client(gateway.token(GOTHA, Scope.SUBMIT)) as client:
        assert client.post("/api/v1/messages", content=data, headers={"X-Filename": name}).status_code == 201
    with gateway.client(gateway.token(OPERATOR, Scope.ADMIN)) as admin:
        response = admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    validated = _metric(text, "xgw_messages", state="validated", direction="out")
    assert validated is not None
    assert validated >= 1
    assert _metric(text, "xgw_messages", state="acknowledged", direction="out") == 0
    age = _metric(text, "xgw_queue_oldest_due_seconds")
    assert age is not None
    assert age >= 0
    assert _metric(text, "xgw_http_requests_total", method="POST", route="/api/v1/messages", status="201")
    assert _metric(text, "xgw_processing_seconds_count") is not None
    assert "xgw_http_request_duration_seconds_bucket" in text


def test_metrics_can_be_public_by_setting(tmp_path: Path, settings: Settings, registry: SchemaRegistry) -> None:
    own = settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "database_url": f"sqlite:///{tmp_path / 'gateway.db'}",
            "api": settings.api.model_copy(update={"metrics_public": True}),
        }
    )
    ctx = build_context(own, registry=registry)
    try:
        with serve(create_app(ctx)) as url:
            assert httpx.get(f"{url}/metrics").status_code == 200
            assert httpx.get(f"{url}/api/v1/messages").status_code == 401
    finally:
        ctx.engine.dispose()
