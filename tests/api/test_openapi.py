"""The OpenAPI document: a valid OpenAPI 3 document, and every operation documents its problem responses."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from gateway.participants.tokens import Scope
from tests.api.support import GOTHA, Gateway, assert_problem

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def document(gateway: Gateway) -> dict[str, Any]:
    with gateway.client(gateway.token(GOTHA, Scope.READ)) as client:
        response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "delete", "patch")
    ]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_operation_documents_its_errors_as_problems(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 14
    for method, path, operation in operations:
        responses = operation["responses"]
        public = path in ("/healthz", "/readyz")
        expected = {"500"} if public else {"401", "500"}
        if path.startswith("/api/v1/"):
            expected |= {"403", "404", "405", "422"}
        assert expected <= set(responses), f"{method} {path} documents only {sorted(responses)}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                content = response.get("content", {})
                assert set(content) == {PROBLEM}, f"{method} {path} {status}: {sorted(content)}"
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
        if not public:
            assert operation.get("security"), f"{method} {path} declares no security"
        assert operation.get("summary"), f"{method} {path} has no summary"


def test_uploads_and_examples_are_documented(document: dict[str, Any]) -> None:
    submit = document["paths"]["/api/v1/messages"]["post"]
    assert set(submit["requestBody"]["content"]) >= {"application/xml", "application/zip"}
    assert {"200", "201", "409", "413"} <= set(submit["responses"])
    assert any(p["name"] == "X-Filename" for p in submit["parameters"])
    schemas = document["components"]["schemas"]
    for name in ("MessageDetail", "MessageSummary", "Problem", "ParticipantSpec"):
        assert schemas[name].get("examples"), f"{name} has no example"
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


def test_documentation_and_landing_page_need_no_token_but_every_operation_does(gateway: Gateway) -> None:
    with gateway.client() as anonymous:
        public = anonymous.get("/openapi.json")
        assert public.status_code == 200
        assert public.json() == anonymous.get("/api/v1/openapi.json").json()
        operations = _operations(public.json())
        guarded = [(m, p) for m, p, op in operations if op.get("security")]
        assert len(guarded) >= 12
        for method, path in guarded:
            if "{" not in path:  # a protected operation refuses the anonymous caller who read the document
                assert anonymous.request(method, path).status_code == 401, f"{method} {path}"

        docs = anonymous.get("/docs")
        assert docs.status_code == 200
        assert "/openapi.json" in docs.text
        assert "cdn" not in docs.text.lower()  # the page loads nothing from third parties
        policy = docs.headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in policy and "frame-ancestors 'none'" in policy
        for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
            assert f"/docs/assets/{asset}" in docs.text
            served = anonymous.get(f"/docs/assets/{asset}")
            assert served.status_code == 200 and kind in served.headers["content-type"]
            assert len(served.content) > 10_000
        assert_problem(anonymous.get("/docs/assets/redoc.standalone.js"), 404, "not-found")
        assert_problem(anonymous.get("/docs/assets/..%2F__init__.py"), 404, "not-found")

        landing = anonymous.get("/")
        assert landing.status_code == 200 and landing.headers["content-type"].startswith("text/html")
        for link in ('href="/console"', 'href="/docs"', 'href="/readyz"', 'href="/openapi.json"'):
            assert link in landing.text
